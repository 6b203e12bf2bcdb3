package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailpit"
	"github.com/unlockd/unlockd/internal/notify"
)

// messageTimeout bounds the wait for one email or SMS. The server's delivery worker polls its
// queue twice a second, so a message normally arrives well within a second.
const messageTimeout = 20 * time.Second

// smsRecorder is the SMS gateway of a test: an HTTP endpoint that takes what unlockd's webhook
// sends, POST {"to","text"} as JSON, and keeps it. With a token it refuses (401) a request without
// "Authorization: Bearer TOKEN", and the test fails.
type smsRecorder struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	messages []sms
	problems []string
}

// sms is one text message the server sent.
type sms struct {
	ID   string // its place in the recorder, for waitSMS
	To   string
	Text string
}

func newSMSRecorder(t *testing.T, token string) *smsRecorder {
	t.Helper()
	r := &smsRecorder{token: token}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(func() {
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.problems {
			t.Errorf("SMS webhook: %s", p)
		}
	})
	return r
}

// URL is the webhook's address, for UNLOCKD_SMS_WEBHOOK_URL.
func (r *smsRecorder) URL() string { return r.srv.URL + "/sms" }

func (r *smsRecorder) problem(w http.ResponseWriter, status int, format string, args ...any) {
	r.mu.Lock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	http.Error(w, http.StatusText(status), status)
}

func (r *smsRecorder) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/sms" {
		r.problem(w, http.StatusMethodNotAllowed, "%s %s, want POST /sms", req.Method, req.URL.Path)
		return
	}
	if r.token != "" && req.Header.Get("Authorization") != "Bearer "+r.token {
		r.problem(w, http.StatusUnauthorized, "Authorization %q, want the bearer token of UNLOCKD_SMS_WEBHOOK_TOKEN", req.Header.Get("Authorization"))
		return
	}
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.problem(w, http.StatusUnsupportedMediaType, "Content-Type %q, want application/json", ct)
		return
	}
	var m struct {
		To   *string `json:"to"`
		Text *string `json:"text"`
	}
	dec := json.NewDecoder(io.LimitReader(req.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.To == nil || m.Text == nil {
		r.problem(w, http.StatusBadRequest, "body is not {\"to\",\"text\"}: %v", err)
		return
	}
	r.mu.Lock()
	r.messages = append(r.messages, sms{ID: fmt.Sprintf("sms-%d", len(r.messages)), To: *m.To, Text: *m.Text})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// sent returns every SMS received so far, oldest first.
func (r *smsRecorder) sent() []sms {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.messages)
}

// waitMail waits for an email to the address with the subject that the test has not taken yet,
// and takes it: the oldest such message. Each test has its own recipients, so it reads only its
// own mail.
func (s *testServer) waitMail(t *testing.T, to, subject string) mailpit.Message {
	t.Helper()
	if s.mail == nil {
		t.Fatal("waitMail: the server has no mail server (serverOptions.Mail)")
	}
	deadline := time.Now().Add(messageTimeout)
	for {
		list := s.mail.Messages(t) // newest first
		for i := len(list) - 1; i >= 0; i-- {
			m := list[i]
			if m.Subject == subject && slices.ContainsFunc(m.To, func(a mailpit.Address) bool { return strings.EqualFold(a.Address, to) }) &&
				s.take(m.ID) {
				return s.mail.Message(t, m.ID)
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range list {
				if slices.ContainsFunc(m.To, func(a mailpit.Address) bool { return strings.EqualFold(a.Address, to) }) {
					got = append(got, fmt.Sprintf("%q", m.Subject))
				}
			}
			t.Fatalf("no new email %q to %s within %s; that address received: %s", subject, to, messageTimeout, strings.Join(got, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSMS waits for an SMS to the number that the test has not taken yet and for which match (if
// not nil) is true, and takes it.
func (s *testServer) waitSMS(t *testing.T, to string, match func(text string) bool) sms {
	t.Helper()
	if s.sms == nil {
		t.Fatal("waitSMS: the server has no SMS webhook (serverOptions.SMS)")
	}
	deadline := time.Now().Add(messageTimeout)
	for {
		list := s.sms.sent()
		for _, m := range list {
			if m.To == to && (match == nil || match(m.Text)) && s.take(m.ID) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range list {
				if m.To == to {
					got = append(got, fmt.Sprintf("%q", m.Text))
				}
			}
			t.Fatalf("no new matching SMS to %s within %s; that number received: %s", to, messageTimeout, strings.Join(got, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// take marks a message as read by the test; false if it already was.
func (s *testServer) take(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.consumed[id] {
		return false
	}
	s.consumed[id] = true
	return true
}

// mailsTo lists the subjects of every email to the address so far, oldest first.
func (s *testServer) mailsTo(t *testing.T, to string) []string {
	t.Helper()
	var out []string
	list := s.mail.Messages(t)
	for i := len(list) - 1; i >= 0; i-- {
		if slices.ContainsFunc(list[i].To, func(a mailpit.Address) bool { return strings.EqualFold(a.Address, to) }) {
			out = append(out, list[i].Subject)
		}
	}
	return out
}

var mailTemplates struct {
	once sync.Once
	t    *notify.Templates
	err  error
}

// subject is the subject the server gives a message in a language, rendered from the same
// templates (web/email), so a change of wording does not break these tests. data holds the values
// the subject depends on (Purpose of a code, Reference of a request); the other required values
// get placeholders.
func subject(t *testing.T, lang, template string, data map[string]string) string {
	t.Helper()
	mailTemplates.once.Do(func() { mailTemplates.t, mailTemplates.err = notify.LoadTemplates() })
	if mailTemplates.err != nil {
		t.Fatalf("loading the message templates: %v", mailTemplates.err)
	}
	d := maps.Clone(data)
	if d == nil {
		d = map[string]string{}
	}
	for k, v := range requiredPlaceholders[template] {
		if d[k] == "" {
			d[k] = v
		}
	}
	subj, _, _, err := mailTemplates.t.Render(notify.Message{Channel: notify.ChannelEmail, To: "someone@example.com",
		Template: template, Lang: lang, Data: d})
	if err != nil {
		t.Fatalf("rendering the subject of %s (%s): %v", template, lang, err)
	}
	return subj
}

// requiredPlaceholders fills the values a template cannot be rendered without (Render
// refuses a message that lacks one, so a template that comes to need another fails loudly here).
var requiredPlaceholders = map[string]map[string]string{
	notify.TemplateCode:            {"Code": "000000"},
	notify.TemplateResetLink:       {"Link": "http://example.invalid/"},
	notify.TemplateRequestReceived: {"Reference": "UR-0000-0000"},
	notify.TemplateRequestHandled:  {"Reference": "UR-0000-0000", "Outcome": "approved"},
	notify.TemplateStaffAlert:      {"Count": "1"},
	notify.TemplateNeedsAdmin:      {"Link": "http://example.invalid/", "State": "frozen"},
	notify.TemplatePasswordExpiry:  {"Until": "Fri, 01 Jan 2027 00:00:00 UTC", "Link": "http://example.invalid/"},
}

// codeLength is the policy's code.length, which the tests leave at its default.
const codeLength = 6

var digitsLine = regexp.MustCompile(`^[0-9]+$`)

// oneTimeCode is the code in a message's text: the one group of digits alone on its line
// (CONTRACT.md, Messages).
func oneTimeCode(t *testing.T, text string) string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(text, "\n") {
		if l := strings.TrimSpace(line); digitsLine.MatchString(l) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one line of digits alone in the message, found %q in:\n%s", found, text)
	}
	if len(found[0]) != codeLength {
		t.Fatalf("the code %q has %d digits, want code.length = %d", found[0], len(found[0]), codeLength)
	}
	return found[0]
}

// hasCode reports whether a text holds a line of digits alone (a one-time code).
func hasCode(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		if digitsLine.MatchString(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"']+`)

// links lists the web addresses in a text.
func links(text string) []string { return linkRE.FindAllString(text, -1) }

// linkTo returns the one link in text that starts with prefix, and fails unless there is
// exactly one.
func linkTo(t *testing.T, text, prefix string) string {
	t.Helper()
	var found []string
	for _, l := range links(text) {
		if strings.HasPrefix(l, prefix) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one link starting with %s, found %q in:\n%s", prefix, found, text)
	}
	return found[0]
}
