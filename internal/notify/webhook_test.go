package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWebhookEventsAreSignedJSON(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	var got map[string]string
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if sig := r.Header.Get("X-Unlockd-Signature"); sig != Sign(secret, r.Header.Get("X-Unlockd-Timestamp"), body) {
			t.Errorf("signature %q does not verify", sig)
		}
		if r.Header.Get("X-Unlockd-Event") != "account.locked" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers: %v", r.Header)
		}
		_ = json.Unmarshal(body, &got)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p := NewWebhookPoster(secret, nil)
	data := map[string]string{"event": "account.locked", "username": "alice", "state": "locked_temporarily"}
	if err := p.Post(context.Background(), srv.URL+"/hook?key=secret", data); err != nil {
		t.Fatal(err)
	}
	if got["username"] != "alice" {
		t.Fatalf("body: %v", got)
	}
	status = http.StatusInternalServerError
	if err := p.Post(context.Background(), srv.URL, data); err == nil {
		t.Fatal("a 500 counted as delivered")
	}
	if err := Validate(Message{Channel: ChannelWebhook, To: "ftp://x", Template: TemplateEvent, Data: data}); err == nil {
		t.Fatal("an ftp webhook URL was accepted")
	}
	if err := Validate(Message{Channel: ChannelWebhook, To: srv.URL, Template: TemplateEvent, Data: data}); err != nil {
		t.Fatal(err)
	}
}
