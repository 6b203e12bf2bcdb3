// Package mailpit gives tests a mailpit of their own (see mailcatcher): each Start gets its own
// process on free ports with its own database, stopped when the test ends, and the messages it
// received through mailpit's API. A missing mailpit binary skips the test, or fails it when CI=true
// (pgtest.Prerequisite). Only tests may import it: it imports testing.
package mailpit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/freeport"
	"github.com/unlockd/unlockd/internal/mailcatcher"
	"github.com/unlockd/unlockd/internal/pgtest"
)

// Server is one running mailpit.
type Server struct {
	bin  string
	opts mailcatcher.Options

	mu   sync.Mutex
	proc *mailcatcher.Process // nil while stopped
}

// Options adjust a server. Args are extra mailpit flags, such as --smtp-tls-cert FILE or
// --smtp-auth-file FILE.
type Options struct {
	Args []string
}

// Start runs a mailpit for this test and stops it when the test ends.
func Start(tb testing.TB) *Server { tb.Helper(); return StartWith(tb, Options{}) }

// StartWith is Start with options.
func StartWith(tb testing.TB, o Options) *Server {
	tb.Helper()
	bin, err := mailcatcher.Find()
	pgtest.Prerequisite(tb, err)
	s := &Server{bin: bin}
	dir := tb.TempDir()
	var lastErr error
	for range 3 { // a free port can be taken between finding and binding it
		smtpAddr, err1 := freeport.Addr()
		webAddr, err2 := freeport.Addr()
		if err := errors.Join(err1, err2); err != nil {
			tb.Fatalf("mailpit: %v", err)
		}
		s.opts = mailcatcher.Options{SMTPAddr: smtpAddr, WebAddr: webAddr,
			Database: filepath.Join(dir, "mailpit.db"),
			Args:     append([]string{"--smtp-disable-rdns", "--max", "5000"}, o.Args...)}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("mailpit: %v", lastErr)
	}
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("already running")
	}
	p, err := mailcatcher.Start(s.bin, s.opts)
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// Stop stops mailpit, as an outage would; Restart brings it back on the same ports with the same
// mail. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Stop()
	s.proc = nil
}

// Restart starts a stopped server again on the same addresses.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	var err error
	for range 20 { // the old process's ports may take a moment to be free
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("mailpit restart: %v", err)
}

// SMTPAddr is host:port of the SMTP server.
func (s *Server) SMTPAddr() string { return s.opts.SMTPAddr }

// SMTPURL is the UNLOCKD_SMTP_URL of the server, plain SMTP.
func (s *Server) SMTPURL() *url.URL {
	return &url.URL{Scheme: "smtp", Host: s.opts.SMTPAddr, RawQuery: "tls=none"}
}

// WebURL is the address of the web inbox and API.
func (s *Server) WebURL() string { return "http://" + s.opts.WebAddr }

// Address is a mail address as mailpit reports it.
type Address struct {
	Name    string
	Address string
}

// Summary is a message in the list of GET /api/v1/messages.
type Summary struct {
	ID        string
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	Created   time.Time
	Username  string // who authenticated, when someone did
	Snippet   string
}

// Message is one message as GET /api/v1/message/{ID} returns it: Text and HTML are the two parts of a
// multipart/alternative message.
type Message struct {
	ID        string
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	Date      time.Time
	Username  string
	Text      string
	HTML      string
}

// Recipients returns the To addresses.
func (m Message) Recipients() []string { return addresses(m.To) }

// Recipients returns the To addresses.
func (m Summary) Recipients() []string { return addresses(m.To) }

func addresses(as []Address) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Address
	}
	return out
}

// Messages lists every message received, newest first.
func (s *Server) Messages(tb testing.TB) []Summary {
	tb.Helper()
	list, err := s.messages()
	if err != nil {
		tb.Fatalf("mailpit: %v", err)
	}
	return list
}

func (s *Server) messages() ([]Summary, error) {
	var out []Summary
	for start := 0; ; {
		var page struct {
			MessagesCount int       `json:"messages_count"`
			Messages      []Summary `json:"messages"`
		}
		if err := s.get(fmt.Sprintf("/api/v1/messages?start=%d&limit=500", start), &page); err != nil {
			return nil, err
		}
		out = append(out, page.Messages...)
		start += len(page.Messages)
		if len(page.Messages) == 0 || start >= page.MessagesCount {
			return out, nil
		}
	}
}

// Message returns one message in full.
func (s *Server) Message(tb testing.TB, id string) Message {
	tb.Helper()
	var m Message
	if err := s.get("/api/v1/message/"+url.PathEscape(id), &m); err != nil {
		tb.Fatalf("mailpit: %v", err)
	}
	return m
}

// To returns every message sent to addr (compared without regard to case), oldest first, in full.
func (s *Server) To(tb testing.TB, addr string) []Message {
	tb.Helper()
	list := s.Messages(tb)
	var out []Message
	for i := len(list) - 1; i >= 0; i-- {
		for _, a := range list[i].To {
			if strings.EqualFold(a.Address, addr) {
				out = append(out, s.Message(tb, list[i].ID))
				break
			}
		}
	}
	return out
}

// WaitFor waits up to timeout for a message to addr and returns the first one.
func (s *Server) WaitFor(tb testing.TB, addr string, timeout time.Duration) Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := s.To(tb, addr); len(got) > 0 {
			return got[0]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpit: no message to %s within %s", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DeleteAll empties the mailbox.
func (s *Server) DeleteAll(tb testing.TB) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.WebURL()+"/api/v1/messages", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("mailpit: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit: delete all: %s", resp.Status)
	}
}

func (s *Server) get(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.WebURL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
