package e2e

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestScreenshots renders, at desktop size, the sign-in page (English and Chinese), the account
// page, the start of the unlock (English and Chinese, with the choice of email or SMS), the
// unlocked page, and the status page of a locked account (English and Chinese). With
// UNLOCKD_SCREENSHOTS=1 it writes them to docs/screenshots/ for the README; otherwise it only
// checks that each is a real, non-blank PNG, so ordinary runs leave the tree clean.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true, SMS: true})
	const password = "screenshots need a long password"
	srv.addUser(t, "mei.lin", "mei.lin@example.com", password, "--display-name", "Mei Lin", "--phone", "+8613800000000")
	// Locked accounts for the status and unlocked pages; one code per account (code.resend_interval).
	srv.addUser(t, "jamie.lee", "jamie.lee@example.com", "jamie's long passphrase", "--display-name", "Jamie Lee")
	srv.addUser(t, "wang.fang", "wang.fang@example.com", "王芳的长密码短语", "--display-name", "王芳")
	srv.addUser(t, "sam.okafor", "sam.okafor@example.com", "sam's long passphrase", "--display-name", "Sam Okafor")
	for _, u := range []string{"jamie.lee", "wang.fang", "sam.okafor"} {
		srv.lockByHTTP(t, u, desktopUA)
	}

	shoot := screenshotter(t)

	t.Run("login", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/login")
		if got := p.lang(t); got != "en" {
			t.Fatalf("html lang = %q, want en", got)
		}
		shoot(t, p, "login.png")
	})
	t.Run("login-zh", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "zh-CN,zh;q=0.9")
		p.open(t, "/login")
		if got := p.lang(t); got != "zh-CN" {
			t.Fatalf("html lang = %q, want zh-CN", got)
		}
		shoot(t, p, "login-zh.png")
	})
	t.Run("account", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		p.signIn(t, "mei.lin", password)
		if got := p.path(t); got != "/account" {
			t.Fatalf("signing in landed on %s, want /account", got)
		}
		shoot(t, p, "account.png")
	})
	for _, shot := range []struct{ name, acceptLanguage, lang string }{
		{"unlock.png", "en", "en"},
		{"unlock-zh.png", "zh-CN,zh;q=0.9", "zh-CN"},
	} {
		t.Run(strings.TrimSuffix(shot.name, ".png"), func(t *testing.T) {
			p := b.newTab(t, srv.URL, shot.acceptLanguage)
			p.open(t, "/unlock")
			if got := p.lang(t); got != shot.lang {
				t.Fatalf("html lang = %q, want %s", got, shot.lang)
			}
			if p.count(t, "main input[type=radio][name=method][value=sms]") != 1 {
				t.Fatal("the unlock page offers no choice of SMS")
			}
			shoot(t, p, shot.name)
		})
	}
	t.Run("unlocked", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/unlock")
		p.startFlow(t, "/unlock", "sam.okafor", "")
		code := oneTimeCode(t, srv.waitMail(t, "sam.okafor@example.com", subject(t, "en", "code", map[string]string{"Purpose": "unlock"})).Text)
		p.enterCode(t, "/unlock", code)
		p.wantNotice(t, "ok", msg(t, "en", "unlock_done"))
		shoot(t, p, "unlocked.png")
	})
	for _, shot := range []struct{ name, acceptLanguage, lang, user string }{
		{"status.png", "en", "en", "jamie.lee"},
		{"status-zh.png", "zh-CN,zh;q=0.9", "zh-CN", "wang.fang"},
	} {
		t.Run(strings.TrimSuffix(shot.name, ".png"), func(t *testing.T) {
			p := b.newTab(t, srv.URL, shot.acceptLanguage)
			p.open(t, "/status")
			p.startFlow(t, "/status", shot.user, "")
			code := oneTimeCode(t, srv.waitMail(t, shot.user+"@example.com", subject(t, shot.lang, "code", map[string]string{"Purpose": "status"})).Text)
			p.enterCode(t, "/status", code)
			if got := p.lang(t); got != shot.lang {
				t.Fatalf("html lang = %q, want %s", got, shot.lang)
			}
			if p.count(t, "main table.list tbody tr") == 0 {
				t.Fatal("the status page of a locked account lists no failed sign-ins")
			}
			shoot(t, p, shot.name)
			if shot.lang == "zh-CN" {
				shoot(t, p, "status-zh-phone.png")
			}
		})
	}
}

// checkPNG fails unless buf is a PNG at least minWidth wide and of a plausible height, that is not
// one flat colour.
func checkPNG(t *testing.T, buf []byte, minWidth int) {
	t.Helper()
	if !bytes.HasPrefix(buf, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(buf))
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	r := img.Bounds()
	if r.Dx() < minWidth || r.Dy() < 600 {
		t.Fatalf("the screenshot is %dx%d, want at least %d px wide", r.Dx(), r.Dy(), minWidth)
	}
	if colours(img) < 16 {
		t.Fatalf("the screenshot is nearly blank")
	}
}

// colours counts distinct colours on an 8-pixel grid, up to 1000.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 8 {
		for x := r.Min.X; x < r.Max.X; x += 8 {
			c := img.At(x, y)
			cr, cg, cb, ca := c.RGBA()
			seen[[4]uint32{cr, cg, cb, ca}] = true
			if len(seen) >= 1000 {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// screenshotter returns what takes a full-page capture of a 1280x900 viewport (the window's own
// viewport is shorter), or the screen of a 390 px phone for a name ending in -phone.png, and checks
// it is a PNG. With UNLOCKD_SCREENSHOTS=1 it also writes it into
// docs/screenshots, which then needs a Chinese font (without one Chromium draws empty boxes).
func screenshotter(t *testing.T) func(t *testing.T, p *tab, name string) {
	t.Helper()
	var outDir string
	if os.Getenv("UNLOCKD_SCREENSHOTS") == "1" {
		outDir = filepath.Join(moduleRoot(t), "docs", "screenshots")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("fc-list", ":lang=zh", "family").Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
			t.Fatalf("no Chinese font for the screenshots (fc-list :lang=zh found none): install fonts-noto-cjk")
		}
	}
	return func(t *testing.T, p *tab, name string) {
		t.Helper()
		minWidth, capture := 1000, chromedp.FullScreenshot(100)
		if strings.HasSuffix(name, "-phone.png") {
			// A phone's screen, as the person sees it on arrival: the page's first 844 px.
			p.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
			minWidth, capture = 390, chromedp.CaptureScreenshot()
		} else {
			p.do(t, chromedp.EmulateViewport(1280, 900))
		}
		buf := run(t, p, "screenshot", capture)
		checkPNG(t, buf, minWidth)
		if outDir != "" {
			path := filepath.Join(outDir, name)
			if err := os.WriteFile(path, buf, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(buf))
		}
	}
}
