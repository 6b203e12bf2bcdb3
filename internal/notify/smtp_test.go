package notify_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailpit"
	"github.com/unlockd/unlockd/internal/notify"
)

// testCert writes a self-signed certificate for 127.0.0.1 and returns its files and a TLS
// configuration that trusts it.
func testCert(t *testing.T) (certFile, keyFile string, trust *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func authFile(t *testing.T, line string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smtp-auth")
	if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func smtpURL(user, addr, mode string) *url.URL {
	u := &url.URL{Scheme: "smtp", Host: addr, RawQuery: "tls=" + mode}
	if user != "" {
		name, pass, _ := strings.Cut(user, ":")
		u.User = url.UserPassword(name, pass)
	}
	return u
}

func sendOne(t *testing.T, m *notify.SMTPMailer, to string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return m.Send(ctx, to, "Test 测试", "text part\n", "<p>html part</p>")
}

// tls=starttls with a user: STARTTLS is done, then the password is sent, and the message arrives.
// A wrong password and a plain connection are refused; Check finds both at start-up.
func TestSMTPStartTLSWithAuthentication(t *testing.T) {
	cert, key, trust := testCert(t)
	mp := mailpit.StartWith(t, mailpit.Options{Args: []string{
		"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls",
		"--smtp-auth-file", authFile(t, "relay:s3cret-pass"),
	}})
	ctx := context.Background()

	good, err := notify.NewSMTPMailer(smtpURL("relay:s3cret-pass", mp.SMTPAddr(), "starttls"), "unlockd@example.com", notify.WithTLSConfig(trust))
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := sendOne(t, good, "frank@example.com"); err != nil {
		t.Fatal(err)
	}
	// mailpit requires authentication once it has a password file, so arriving proves it happened
	// (it records the user only for LOGIN, and PLAIN was used).
	m := mp.WaitFor(t, "frank@example.com", 5*time.Second)
	if m.Subject != "Test 测试" || strings.TrimSpace(m.Text) != "text part" || !strings.Contains(m.HTML, "html part") {
		t.Fatalf("received %+v", m)
	}
	if strings.Contains(good.String(), "s3cret") {
		t.Fatalf("String() shows the password: %s", good)
	}

	wrong, _ := notify.NewSMTPMailer(smtpURL("relay:wrong", mp.SMTPAddr(), "starttls"), "unlockd@example.com", notify.WithTLSConfig(trust))
	if err := wrong.Check(ctx); err == nil {
		t.Error("Check accepted a wrong password")
	}
	anonymous, _ := notify.NewSMTPMailer(smtpURL("", mp.SMTPAddr(), "starttls"), "unlockd@example.com", notify.WithTLSConfig(trust))
	if err := sendOne(t, anonymous, "grace@example.com"); err == nil {
		t.Error("mail was taken without authentication; the test proves nothing")
	}
	plain, _ := notify.NewSMTPMailer(smtpURL("", mp.SMTPAddr(), "none"), "unlockd@example.com")
	if err := sendOne(t, plain, "grace@example.com"); err == nil {
		t.Error("a server that requires STARTTLS took mail over a plain connection")
	}
	untrusted, _ := notify.NewSMTPMailer(smtpURL("relay:s3cret-pass", mp.SMTPAddr(), "starttls"), "unlockd@example.com")
	if err := untrusted.Check(ctx); err == nil {
		t.Error("Check accepted a certificate nobody trusts")
	}
}

// tls=starttls refuses a server that does not offer STARTTLS instead of sending in the clear;
// tls=none does not try it.
func TestSMTPStartTLSIsMandatory(t *testing.T) {
	mp := mailpit.Start(t)
	ctx := context.Background()
	m, _ := notify.NewSMTPMailer(smtpURL("", mp.SMTPAddr(), "starttls"), "unlockd@example.com")
	if err := m.Check(ctx); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Check against a server without STARTTLS: %v", err)
	}
	none, _ := notify.NewSMTPMailer(smtpURL("", mp.SMTPAddr(), "none"), "unlockd@example.com")
	if err := none.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// tls=tls speaks TLS from the first byte (SMTPS).
func TestSMTPImplicitTLS(t *testing.T) {
	cert, key, trust := testCert(t)
	mp := mailpit.StartWith(t, mailpit.Options{Args: []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls"}})
	m, err := notify.NewSMTPMailer(smtpURL("", mp.SMTPAddr(), "tls"), "unlockd@example.com", notify.WithTLSConfig(trust))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sendOne(t, m, "heidi@example.com"); err != nil {
		t.Fatal(err)
	}
	mp.WaitFor(t, "heidi@example.com", 5*time.Second)
	plain, _ := notify.NewSMTPMailer(smtpURL("", mp.SMTPAddr(), "none"), "unlockd@example.com", notify.WithSMTPTimeout(500*time.Millisecond))
	if err := plain.Check(context.Background()); err == nil {
		t.Error("plain SMTP worked against an SMTPS server")
	}
}

// A user over plain SMTP is allowed to localhost only (as net/smtp does); mailpit must allow it too.
func TestSMTPPlainAuthToLocalhost(t *testing.T) {
	mp := mailpit.StartWith(t, mailpit.Options{Args: []string{"--smtp-auth-file", authFile(t, "dev:devpass"), "--smtp-auth-allow-insecure"}})
	m, _ := notify.NewSMTPMailer(smtpURL("dev:devpass", mp.SMTPAddr(), "none"), "unlockd@example.com")
	if err := sendOne(t, m, "ivan@example.com"); err != nil {
		t.Fatal(err)
	}
	mp.WaitFor(t, "ivan@example.com", 5*time.Second)
	wrong, _ := notify.NewSMTPMailer(smtpURL("dev:nope", mp.SMTPAddr(), "none"), "unlockd@example.com")
	if err := wrong.Check(context.Background()); err == nil {
		t.Error("a wrong password was accepted")
	}
}

func TestSMTPConfigurationErrors(t *testing.T) {
	for name, u := range map[string]*url.URL{
		"scheme":   {Scheme: "http", Host: "mail.example.com:25"},
		"tls mode": {Scheme: "smtp", Host: "mail.example.com:25", RawQuery: "tls=maybe"},
		"port":     {Scheme: "smtp", Host: "mail.example.com:99999"},
		"no host":  {Scheme: "smtp", Host: ":25"},
	} {
		if _, err := notify.NewSMTPMailer(u, "unlockd@example.com"); err == nil {
			t.Errorf("%s: accepted %s", name, u)
		}
	}
	if _, err := notify.NewSMTPMailer(&url.URL{Scheme: "smtp", Host: "mail.example.com:25"}, "unlockd@localhost"); err != nil {
		t.Errorf("the default sender: %v", err)
	}
	if _, err := notify.NewSMTPMailer(&url.URL{Scheme: "smtp", Host: "mail.example.com:25"}, "not an address"); err == nil {
		t.Error("accepted a bad sender")
	}
	m, err := notify.NewSMTPMailer(closedSMTP(t), "unlockd@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(context.Background()); err == nil {
		t.Error("Check found a server where none listens")
	}
	if err := sendOne(t, m, "bad address"); !notify.IsPermanent(err) {
		t.Errorf("a bad recipient: %v, want a permanent error", err)
	}
}

// scriptedSMTP is an SMTP server that takes one message and then, when dataReply is 250, drops
// the connection at the next command (the RSET or QUIT after DATA). It counts the messages it took.
func scriptedSMTP(t *testing.T, dataReply string) (addr string, took func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	messages := 0
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				say := func(line string) { fmt.Fprintf(conn, "%s\r\n", line) }
				say("220 scripted ESMTP")
				afterData := false
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case afterData:
						return // the session fails after the message was taken
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250 scripted")
					case strings.HasPrefix(cmd, "DATA"):
						say("354 go on")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						say(dataReply)
						if strings.HasPrefix(dataReply, "250") {
							mu.Lock()
							messages++
							mu.Unlock()
							afterData = true
						}
					case strings.HasPrefix(cmd, "QUIT"):
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return messages }
}

// A server that takes the message (250 after DATA) and then drops the session: the message is
// delivered, and Send says so (Delivered), so that the worker records it sent instead of sending
// it again. A server that refuses the message leaves a plain error, worth a retry.
func TestSMTPMessageTakenBeforeTheSessionFailsIsDelivered(t *testing.T) {
	addr, took := scriptedSMTP(t, "250 queued as 1")
	m, err := notify.NewSMTPMailer(smtpURL("", addr, "none"), "unlockd@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = sendOne(t, m, "ivan@example.com")
	if err == nil || !notify.IsDelivered(err) || took() != 1 {
		t.Fatalf("Send = %v (delivered %t), server took %d; want a delivered error after one message", err, notify.IsDelivered(err), took())
	}
	addr, took = scriptedSMTP(t, "451 try again later")
	m, _ = notify.NewSMTPMailer(smtpURL("", addr, "none"), "unlockd@example.com")
	if err := sendOne(t, m, "ivan@example.com"); err == nil || notify.IsDelivered(err) || notify.IsPermanent(err) {
		t.Errorf("a refused message: %v, want an error worth a retry", err)
	}
}
