package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/notice"
)

// ChannelWebhook carries events to other applications (the CRM, a chat channel): To is the URL,
// Template is TemplateEvent, and Data is the event's fields.
const (
	ChannelWebhook = account.ChannelWebhook
	TemplateEvent  = notice.TemplateEvent
)

// WebhookPoster delivers events as signed JSON POSTs. The signature lets the receiver check that
// the event comes from unlockd and is fresh: X-Unlockd-Signature is "sha256=" and the hex HMAC-SHA256
// of "TIMESTAMP.BODY" under the shared secret, with TIMESTAMP the X-Unlockd-Timestamp header (Unix
// seconds).
type WebhookPoster struct {
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhookPoster returns a poster signing with secret.
func NewWebhookPoster(secret []byte, client *http.Client) *WebhookPoster {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &WebhookPoster{secret: secret, client: client, now: time.Now}
}

// Sign computes the signature header value for a body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Post sends one event; a 2xx answer is delivered, anything else an error to retry.
func (p *WebhookPoster) Post(ctx context.Context, to string, data map[string]string) error {
	body, err := json.Marshal(data)
	if err != nil {
		return Permanent(err)
	}
	ts := strconv.FormatInt(p.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "unlockd-webhook")
	req.Header.Set("X-Unlockd-Event", data["event"])
	req.Header.Set("X-Unlockd-Timestamp", ts)
	req.Header.Set("X-Unlockd-Signature", Sign(p.secret, ts, body))
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %s", redactURL(err.Error(), to))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("webhook: answered %d", res.StatusCode)
	}
	return nil
}

// redactURL keeps a query string (which may hold a secret) out of stored errors.
func redactURL(msg, to string) string {
	u, err := url.Parse(to)
	if err != nil || u.RawQuery == "" {
		return msg
	}
	return strings.ReplaceAll(msg, to, u.Scheme+"://"+u.Host+u.Path+"?…")
}

// validateWebhook checks an event message.
func validateWebhook(m Message) error {
	u, err := url.Parse(m.To)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify: webhook %q is not an http(s) URL", m.To)
	}
	if m.Template != TemplateEvent || strings.TrimSpace(m.Data["event"]) == "" {
		return fmt.Errorf("notify: a webhook message is an %q with an event name", TemplateEvent)
	}
	return nil
}
