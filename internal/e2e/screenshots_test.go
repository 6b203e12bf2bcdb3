package e2e

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestScreenshots renders the sign-in page (English and Chinese) and the account page at desktop
// size. With UNLOCKD_SCREENSHOTS=1 it writes them to docs/screenshots/ for the README; otherwise it
// only checks that each is a real, non-blank PNG, so ordinary runs leave the tree clean.
func TestScreenshots(t *testing.T) {
	b := newBrowser(t)
	srv := startServer(t)
	const password = "screenshots need a long password"
	srv.addUser(t, "mei.lin", "mei.lin@example.com", password, "--display-name", "Mei Lin", "--phone", "+8613800000000")

	var outDir string
	if os.Getenv("UNLOCKD_SCREENSHOTS") == "1" {
		outDir = filepath.Join(moduleRoot(t), "docs", "screenshots")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Without a CJK font Chromium draws the Chinese page as empty boxes: not for the README.
		if out, err := exec.Command("fc-list", ":lang=zh", "family").Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
			t.Fatalf("no Chinese font for the screenshots (fc-list :lang=zh found none): install fonts-noto-cjk")
		}
	}
	shoot := func(t *testing.T, p *tab, name string) {
		t.Helper()
		// A full-page capture of a 1280x900 viewport (the window's own viewport is shorter).
		p.do(t, chromedp.EmulateViewport(1280, 900))
		buf := run(t, p, "screenshot", chromedp.FullScreenshot(100))
		checkPNG(t, buf)
		if outDir != "" {
			path := filepath.Join(outDir, name)
			if err := os.WriteFile(path, buf, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(buf))
		}
	}

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
}

// checkPNG fails unless buf is a PNG of a plausible size that is not one flat colour.
func checkPNG(t *testing.T, buf []byte) {
	t.Helper()
	if !bytes.HasPrefix(buf, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(buf))
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	r := img.Bounds()
	if r.Dx() < 1000 || r.Dy() < 600 {
		t.Fatalf("the screenshot is %dx%d, want the 1280px-wide window", r.Dx(), r.Dy())
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
