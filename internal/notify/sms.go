package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// SMSSender sends one text message to a phone number in E.164 form.
type SMSSender interface {
	Send(ctx context.Context, to, text string) error
}

// WebhookSMS hands each SMS to an HTTP endpoint (the SMS gateway, or a bridge to one) as
// POST {"to":"+8613800000000","text":"..."}. A 2xx answer means delivered; anything else, or no
// answer, is an error and the message is retried.
type WebhookSMS struct {
	url    string
	token  string
	client *http.Client
	desc   string
}

// NewWebhookSMS prepares a sender for u. A non-empty token is sent as Authorization: Bearer. With a
// nil client it uses one with a 10-second timeout that does not follow redirects (a redirected POST
// would arrive as a GET, or carry the message somewhere unexpected).
func NewWebhookSMS(u *url.URL, token string, client *http.Client) *WebhookSMS {
	if client == nil {
		client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &WebhookSMS{url: u.String(), token: token, client: client, desc: u.Scheme + "://" + u.Host + u.Path}
}

// String describes the endpoint without its query or credentials, for logs.
func (s *WebhookSMS) String() string { return s.desc }

// Send posts one message. The error never includes the answer's body or the URL's query, which may
// echo the text (a code) or hold a key.
func (s *WebhookSMS) Send(ctx context.Context, to, text string) error {
	body, err := json.Marshal(struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}{to, text})
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("sms webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("sms webhook %s: %w", s.desc, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sms webhook %s: answered %s", s.desc, resp.Status)
	}
	return nil
}
