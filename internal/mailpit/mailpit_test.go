package mailpit_test

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailpit"
)

func send(t *testing.T, s *mailpit.Server, to, subject string) {
	t.Helper()
	msg := "From: test@example.com\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
	if err := smtp.SendMail(s.SMTPAddr(), nil, "test@example.com", []string{to}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// The helper sees what arrives over SMTP, and a restarted server keeps its mail and takes more.
func TestMailpitReceivesAndSurvivesRestart(t *testing.T) {
	s := mailpit.Start(t)
	send(t, s, "alice@example.com", "first")
	m := s.WaitFor(t, "Alice@Example.com", 5*time.Second)
	if m.Subject != "first" || strings.TrimSpace(m.Text) != "hello" {
		t.Fatalf("got %+v", m)
	}
	if u := s.SMTPURL(); u.Scheme != "smtp" || u.Host != s.SMTPAddr() || u.Query().Get("tls") != "none" {
		t.Fatalf("SMTPURL = %s", u)
	}

	s.Stop()
	if err := smtp.SendMail(s.SMTPAddr(), nil, "test@example.com", []string{"bob@example.com"}, []byte("Subject: x\r\n\r\nx\r\n")); err == nil {
		t.Fatal("a stopped mailpit accepted mail")
	}
	s.Restart(t)
	send(t, s, "bob@example.com", "second")
	s.WaitFor(t, "bob@example.com", 5*time.Second)
	if got := len(s.Messages(t)); got != 2 {
		t.Fatalf("%d messages after restart, want 2", got)
	}
	s.DeleteAll(t)
	if got := len(s.Messages(t)); got != 0 {
		t.Fatalf("%d messages after DeleteAll", got)
	}
}
