package server_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/servetest"
)

// A reset link's token is a secret: the request log names the page, not the token (SECURITY.md 22).
func TestLogsHoldNoResetToken(t *testing.T) {
	t.Parallel()
	var logs servetest.SyncBuffer
	h := newHarness(t, withLog(&logs))
	token := "tok" + strings.Repeat("x", 40)
	c := h.client()
	h.get(c, "/reset/"+token)
	h.post(c, "/reset/"+token, url.Values{"password": {"a new long passphrase"}, "password_confirm": {"a new long passphrase"}})
	h.post(c, "/reset/"+token, url.Values{"password": {"x"}}, "Origin", "https://elsewhere.example")
	out := logs.String()
	if strings.Contains(out, token) {
		t.Fatalf("the log holds the reset token:\n%s", out)
	}
	if strings.Count(out, "/reset/(token)") < 3 {
		t.Fatalf("the reset requests are not logged:\n%s", out)
	}
}
