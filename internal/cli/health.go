package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/config"
)

// cmdHealth asks a running server whether it is ready: exit 0 when it answers 2xx, 1 otherwise. It
// is the health check of images without a shell or curl, so it needs nothing but the listen address
// (not the database URL or the secret key) and never goes through a proxy.
func cmdHealth(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("health", stdio)
	target := fs.String("url", "", "URL to GET (default: /readyz on UNLOCKD_LISTEN)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("health takes no arguments")
	}
	if *timeout <= 0 {
		return usagef("health: --timeout must be positive")
	}
	u := *target
	if u == "" {
		var err error
		if u, err = readyURL(getenv); err != nil {
			return err
		}
	} else if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return usagef("health: --url %q is not an absolute http(s) URL", u)
	}
	status, body, err := probe(ctx, u, *timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("%s: %d %s: %s", u, status, http.StatusText(status), body)
	}
	fmt.Fprintf(stdio.Out, "%s: %d %s\n", u, status, body)
	return nil
}

// readyURL is /readyz on the address the server listens on, as serve reads it: on this machine
// when it listens on every address.
func readyURL(getenv config.Getenv) (string, error) {
	listen := strings.TrimSpace(getenv("UNLOCKD_LISTEN"))
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return "", &config.Error{Var: "UNLOCKD_LISTEN", Msg: fmt.Sprintf("%q is not host:port", listen)}
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probe GETs u once, without a proxy or redirects, and returns the status and the start of the body
// on one line.
func probe(ctx context.Context, u string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", fmt.Errorf("no answer within %v", timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, by the caller
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return resp.StatusCode, strings.Join(strings.Fields(string(b)), " "), nil
}
