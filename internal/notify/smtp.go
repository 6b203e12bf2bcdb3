package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"
)

// Mailer sends one email with a plain-text and an HTML part (multipart/alternative).
type Mailer interface {
	Send(ctx context.Context, to, subject, text, html string) error
}

// SMTPTimeout bounds each step of talking to the mail server (dial, each command, the data).
const SMTPTimeout = 10 * time.Second

// SMTPMailer sends mail through one SMTP server with go-mail. It opens a connection per message, so
// a server that restarts between messages costs nothing, and it is safe for concurrent use.
type SMTPMailer struct {
	client *mail.Client
	from   string
	desc   string
}

// SMTPOption adjusts an SMTPMailer.
type SMTPOption func(*smtpOptions)

type smtpOptions struct {
	tlsConfig *tls.Config
	timeout   time.Duration
}

// NewSMTPMailer prepares a mailer for u, which has the form of UNLOCKD_SMTP_URL:
// smtp://[user:pass@]host:port[?tls=none|starttls|tls].
//
//	tls=none      plain SMTP, no STARTTLS even when offered (a local relay or a mail catcher)
//	tls=starttls  STARTTLS is mandatory: a server that does not offer it is an error (the default)
//	tls=tls       implicit TLS from the first byte (SMTPS, usually port 465)
//
// With a user in the URL the mailer authenticates, by PLAIN or else LOGIN when the server offers one
// of them (else the strongest mechanism it offers); like net/smtp it refuses to send the password over
// an unencrypted connection to any host but localhost. It does not connect: call Check for that.
func NewSMTPMailer(u *url.URL, from string, opts ...SMTPOption) (*SMTPMailer, error) {
	if u == nil {
		return nil, errors.New("smtp: no server URL")
	}
	o := smtpOptions{timeout: SMTPTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	host := u.Hostname()
	if u.Scheme != "smtp" || host == "" {
		return nil, errors.New("smtp: the URL must look like smtp://[user:pass@]host:port[?tls=none|starttls|tls]")
	}
	mode := u.Query().Get("tls")
	if mode == "" {
		mode = "starttls"
	}
	port := map[string]int{"none": 25, "starttls": 587, "tls": 465}[mode]
	if port == 0 {
		return nil, fmt.Errorf("smtp: tls must be none, starttls or tls, not %q", mode)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("smtp: bad port %q", p)
		}
		port = n
	}
	if err := mail.NewMsg().From(from); err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %w", from, err)
	}

	tlsConfig := o.tlsConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	copts := []mail.Option{
		mail.WithPort(port),
		mail.WithTimeout(o.timeout),
		mail.WithTLSConfig(tlsConfig),
	}
	switch mode {
	case "none":
		copts = append(copts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls":
		copts = append(copts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		copts = append(copts, mail.WithSSL())
	}
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		copts = append(copts,
			mail.WithUsername(u.User.Username()),
			mail.WithPassword(pass),
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin))
	}
	client, err := mail.NewClient(host, copts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &SMTPMailer{client: client, from: from, desc: fmt.Sprintf("%s:%d (tls=%s)", host, port, mode)}, nil
}

// String describes the server without its credentials, for logs.
func (m *SMTPMailer) String() string { return m.desc }

// Check connects, greets the server, does STARTTLS and authentication as configured, and says
// goodbye: what start-up calls to find a wrong address, port, TLS mode or password at once.
func (m *SMTPMailer) Check(ctx context.Context) error {
	c, err := m.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", m.desc, err)
	}
	if err := m.client.CloseWithSMTPClient(c); err != nil {
		return fmt.Errorf("smtp %s: %w", m.desc, err)
	}
	return nil
}

// Send delivers one message. A recipient go-mail cannot parse is a Permanent error; a failure after
// the server took the message (its session's end) is Delivered; anything else (the server down, a
// refusal) is worth retrying.
func (m *SMTPMailer) Send(ctx context.Context, to, subject, text, html string) error {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(m.from); err != nil {
		return Permanent(fmt.Errorf("smtp: sender: %w", err))
	}
	if err := msg.To(to); err != nil {
		return Permanent(fmt.Errorf("smtp: recipient: %w", err))
	}
	msg.Subject(subject)
	// RFC 3834: an automatic message; well-behaved auto-responders do not answer it.
	msg.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, text)
	if html != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, html)
	}
	if err := m.client.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("smtp %s: %w", m.desc, err)
		if msg.IsDelivered() {
			// The server took the message (250 after DATA) and only what follows failed (RSET,
			// QUIT, the connection): it is on its way.
			return Delivered(err)
		}
		return err
	}
	return nil
}
