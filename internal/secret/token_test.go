package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 {
			t.Fatalf("len(token) = %d, want 43", len(tok))
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != 32 {
			t.Fatalf("token %q does not decode to 32 bytes: %v", tok, err)
		}
		if strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q is not URL-safe", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
}

func TestHashToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(HashToken(tt.in)); got != tt.want {
			t.Errorf("HashToken(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	tok, _ := NewToken()
	if !bytes.Equal(HashToken(tok), HashToken(tok)) || bytes.Equal(HashToken(tok), HashToken(tok+"x")) {
		t.Error("HashToken is not a deterministic function of the token")
	}
}

func TestNewCodeLength(t *testing.T) {
	for n := 4; n <= 12; n++ {
		for i := 0; i < 100; i++ {
			c, err := NewCode(n)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != n || strings.Trim(c, "0123456789") != "" {
				t.Fatalf("NewCode(%d) = %q", n, c)
			}
		}
	}
	for _, n := range []int{-1, 0, 1, 3, 13, 100} {
		if c, err := NewCode(n); err == nil || c != "" {
			t.Errorf("NewCode(%d) = %q, %v; want an error", n, c, err)
		}
	}
}

// Bytes 250..255 are rejected, the others map to b%10.
func TestNewCodeRejection(t *testing.T) {
	src := []byte{255, 250, 9, 19, 249, 0, 252, 10, 251, 253, 254, 123, 45, 67, 89, 99, 250, 250, 250, 250, 250, 250, 250, 250}
	c, err := newCode(bytes.NewReader(src), 4)
	if err != nil {
		t.Fatal(err)
	}
	if c != "9990" {
		t.Errorf("code = %q, want 9990", c)
	}
	// Rejected bytes require more reads; a short source is an error.
	if _, err := newCode(bytes.NewReader([]byte{250, 251, 252, 253, 254, 255, 1, 2}), 4); err == nil {
		t.Error("newCode from a short reader did not fail")
	}
}

// A sanity check of the distribution: chi-squared per position and over
// all digits. With df = 9 the 1e-5 critical value is about 37.3, so a
// correct implementation fails this at most about once in 10^4 runs. It
// catches gross errors (stuck or missing digits, positions that repeat); the
// subtle modulo bias of b%10 on raw bytes is excluded by construction and
// checked by TestNewCodeRejection instead.
func TestNewCodeDistribution(t *testing.T) {
	const n, samples, limit = 6, 20000, 40.0
	var counts [n][10]int
	var total [10]int
	for i := 0; i < samples; i++ {
		c, err := NewCode(n)
		if err != nil {
			t.Fatal(err)
		}
		for pos := 0; pos < n; pos++ {
			d := c[pos] - '0'
			counts[pos][d]++
			total[d]++
		}
	}
	chi2 := func(c []int, sum int) float64 {
		exp := float64(sum) / 10
		var x float64
		for _, v := range c {
			x += (float64(v) - exp) * (float64(v) - exp) / exp
		}
		return x
	}
	for pos := 0; pos < n; pos++ {
		if x := chi2(counts[pos][:], samples); x > limit {
			t.Errorf("position %d: chi2 = %.1f > %.1f, counts %v", pos, x, limit, counts[pos])
		}
	}
	if x := chi2(total[:], samples*n); x > limit {
		t.Errorf("all digits: chi2 = %.1f > %.1f, counts %v", x, limit, total)
	}
}
