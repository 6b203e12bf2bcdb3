package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/servetest"
)

const (
	// startTimeout bounds starting Chromium and opening a tab; stepTimeout bounds every other
	// browser step. A hung browser fails the test instead of hanging it.
	startTimeout = 60 * time.Second
	stepTimeout  = 30 * time.Second
)

// chromiumPath finds Debian's Chromium (UNLOCKD_CHROMIUM names another build).
func chromiumPath() (string, error) {
	for _, p := range []string{os.Getenv("UNLOCKD_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			if p == "/usr/bin/chromium" {
				break
			}
			return "", fmt.Errorf("UNLOCKD_CHROMIUM=%s is not an executable file", p)
		}
		return p, nil
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		return "", fmt.Errorf("Chromium not found (install the chromium package): %w", err)
	}
	return p, nil
}

// browser is one headless Chromium with its own profile, for one test. Each tab it opens lives in
// a fresh browser context: its own cookies, as a new private window has.
type browser struct {
	ctx  context.Context // the first tab; it owns the browser process
	kill context.CancelFunc
	log  *servetest.SyncBuffer
}

// newBrowser starts headless Chromium for the test and closes it when the test ends. Without
// Chromium the test is skipped (failed in CI).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := chromiumPath()
	pgtest.Prerequisite(t, err)

	b := &browser{log: &servetest.SyncBuffer{}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// The browser's own language is English whatever the machine's locale; a tab that needs
		// another sets its Accept-Language (see newTab).
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("accept-lang", "en-US,en"),
		chromedp.Env("LANGUAGE=en_US", "LANG=en_US.UTF-8"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.log),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx,
		chromedp.WithErrorf(func(format string, args ...any) { fmt.Fprintf(b.log, "chromedp: "+format+"\n", args...) }))
	b.ctx = ctx
	// kill stops Chromium for good: cancelling the allocator kills the process (and its children)
	// and waits until they are gone.
	b.kill = cancelAlloc
	// Registered after t.TempDir, so it runs first: the profile is removed after Chromium exits.
	t.Cleanup(func() {
		// Close the browser gracefully, but never wait long for it: chromedp's own cancel func
		// waits forever when Chromium failed to start, so it runs aside with a bound.
		bounded(10*time.Second, func() {
			closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = chromedp.Cancel(closeCtx)
		})
		b.kill()
		bounded(5*time.Second, cancelCtx)
		if t.Failed() {
			t.Logf("Chromium output:\n%s", tail(b.log.String(), 4000))
		}
	})
	// The first Do starts Chromium; its context must not carry a timeout (that would bound the
	// browser's whole life), so the start is watched from here instead.
	b.within(t, "starting Chromium", func() error { return chromedp.Do(ctx) })
	return b
}

// within runs f, and kills the browser when f has not returned within startTimeout.
func (b *browser) within(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err) // the cleanup logs Chromium's output
		}
	case <-time.After(startTimeout):
		b.kill()
		<-done
		t.Fatalf("%s: no answer within %s; Chromium killed", what, startTimeout)
	}
}

// bounded runs f and returns when it has returned or after d, whichever is first.
func bounded(d time.Duration, f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// tab is one page in its own browser context, pointed at one server.
type tab struct {
	ctx  context.Context
	base string // the server's origin
}

// newTab opens a tab in a fresh browser context (no cookies) whose requests carry
// Accept-Language: acceptLanguage. It closes when the test ends.
func (b *browser) newTab(t *testing.T, base, acceptLanguage string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() { bounded(10*time.Second, cancel) })
	b.within(t, "opening a tab", func() error { return chromedp.Do(ctx) })
	p := &tab{ctx: ctx, base: base}
	// The browser's Network domain is on (chromedp enables it), so these headers go with every
	// request of this tab, the page's own navigations included.
	p.do(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": acceptLanguage},
		})
		return err
	}))
	return p
}

// run runs one browser action with the step timeout and fails the test on error.
func run[T any](t *testing.T, p *tab, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: no result within %s", what, stepTimeout)
		}
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// do runs actions that return nothing.
func (p *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, p, "browser step", chromedp.Steps(steps...))
}

// open navigates to path on the server and returns the response of the page it lands on (after
// any redirects).
func (p *tab) open(t *testing.T, path string) *network.Response {
	t.Helper()
	return run(t, p, "open "+path, chromedp.NavigateResponse(p.base+path))
}

// navigate runs steps that make the page navigate (a click on a link or a submit button) and
// waits for the new page; it returns the response of the page it lands on.
func (p *tab) navigate(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return resp
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](t *testing.T, p *tab, expr string) T {
	t.Helper()
	return run(t, p, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// path is the path (and query) of the page the tab shows.
func (p *tab) path(t *testing.T) string {
	t.Helper()
	loc := run(t, p, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return u.Path
}

// lang is the page's <html lang>.
func (p *tab) lang(t *testing.T) string {
	t.Helper()
	return eval[string](t, p, `document.documentElement.lang`)
}

// text is the visible text of the first element matching the CSS selector, or "" when none does.
// It does not wait: the pages are server-rendered and complete when they load.
func (p *tab) text(t *testing.T, selector string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "").trim()`, selector))
}

// count is how many elements match the CSS selector.
func (p *tab) count(t *testing.T, selector string) int {
	t.Helper()
	return eval[int](t, p, fmt.Sprintf(`document.querySelectorAll(%q).length`, selector))
}

// signIn fills the sign-in form and submits it, from whatever page the tab shows.
func (p *tab) signIn(t *testing.T, username, password string) *network.Response {
	t.Helper()
	if p.path(t) != "/login" {
		p.open(t, "/login")
	}
	// After a failed sign-in the form keeps the username: type over it, not after it.
	p.fill(t, "username", username)
	p.fill(t, "password", password)
	return p.navigate(t, "submit the sign-in form", chromedp.Click(chromedp.CSS(`main form[action="/login"] button[type=submit]`)))
}

// fill empties the form field with the id and types value into it, as a person would.
func (p *tab) fill(t *testing.T, id, value string) {
	t.Helper()
	if !eval[bool](t, p, fmt.Sprintf(`(el => { if (!el) return false; el.value = ""; return true })(document.getElementById(%q))`, id)) {
		t.Fatalf("on %s: no field with id %q", p.path(t), id)
	}
	p.do(t, chromedp.SendKeys(chromedp.ID(id), value))
}

// click clicks the element that matches the CSS selector and waits for the page it leads to.
func (p *tab) click(t *testing.T, selector string) *network.Response {
	t.Helper()
	if p.count(t, selector) == 0 {
		t.Fatalf("nothing to click on %s: no %s", p.path(t), selector)
	}
	return p.navigate(t, "click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// attr is an attribute of the first element matching the CSS selector, or "" when there is none.
func (p *tab) attr(t *testing.T, selector, name string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, selector, name))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
