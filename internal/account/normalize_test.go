package account

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeLogin(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"alice", "alice", true},
		{"  Alice ", "Alice", true},
		{"alice@example.com", "alice@example.com", true},
		{"+86 138 0000 0000", "+8613800000000", true},
		{"", "", false},
		{"   ", "", false},
		{"al\nice", "", false},
		{"al\x00ice", "", false},
		{"\xff\xfe", "", false},
		{strings.Repeat("a", 255), "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeLogin(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeLogin(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidateUsername(t *testing.T) {
	for _, good := range []string{"alice", "a", "bob.smith", "x_y-z", "A1", strings.Repeat("a", 64)} {
		if err := ValidateUsername(good); err != nil {
			t.Errorf("ValidateUsername(%q) = %v, want nil", good, err)
		}
	}
	for _, bad := range []string{"", ".alice", "al ice", "alice@example.com", "ali\nce", "名字", strings.Repeat("a", 65), "-x"} {
		if err := ValidateUsername(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ValidateUsername(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com":   "alice@example.com",
		" Alice@Example.COM ": "Alice@Example.COM",
		"li.wei+crm@corp.cn":  "li.wei+crm@corp.cn",
		"张伟@例子.中国":            "张伟@例子.中国",
	} {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "alice", "@example.com", "alice@", "alice@example", "a@b@c.com",
		"alice@.com", "alice@example..com", "al ice@example.com", "a@b.com\r\nBcc: x@y.com", "a,b@c.com",
		strings.Repeat("a", 250) + "@b.com"} {
		if _, err := NormalizeEmail(bad); ErrorCode(err) != EINVALID {
			t.Errorf("NormalizeEmail(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+8613800000000", "+8613800000000", true},
		{"+86 138-0000-0000", "+8613800000000", true},
		{"+1 (415) 555.0100", "+14155550100", true},
		{"13800000000", "", false},
		{"+0123456789", "", false},
		{"+123", "", false},
		{"+1234567890123456", "", false},
		{"+86 138x", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizePhone(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzNormalizeLogin(f *testing.F) {
	for _, s := range []string{"alice", "+86 138 0000 0000", "a@b.c", "\xff", "a\r\nb", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeLogin(s)
		if !ok {
			return
		}
		if !utf8.ValidString(got) || got == "" || len(got) > MaxLoginLength || strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("NormalizeLogin(%q) = %q accepted something unsafe", s, got)
		}
		if again, ok2 := NormalizeLogin(got); !ok2 || again != got {
			t.Fatalf("NormalizeLogin is not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a@b", "\xff@x.y", "a@b.com\nBcc:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(got, "\r\n\x00 ") || strings.Count(got, "@") != 1 || !utf8.ValidString(got) {
			t.Fatalf("NormalizeEmail(%q) accepted %q", s, got)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+8613800000000", "+1 (415) 555-0100", "+", "+0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizePhone(s)
		if !ok {
			return
		}
		if got[0] != '+' || len(got) < 8 || len(got) > 16 || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q is not E.164", s, got)
		}
	})
}

func TestParseClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":           "203.0.113.9",
		" 203.0.113.9\t":        "203.0.113.9",
		"::ffff:198.51.100.4":   "198.51.100.4",
		"2001:DB8:0:0::1":       "2001:db8::1",
		"fe80::1%eth0":          "fe80::1",
		"fe80::1%=HYPERLINK(x)": "fe80::1",
		"::1":                   "::1",
	} {
		if got, err := ParseClientIP(in); err != nil || got != want {
			t.Errorf("ParseClientIP(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "not-an-address", "203.0.113.256", "203.0.113.9:443", "[2001:db8::1]",
		"203.0.113.7, 198.51.100.1", `=HYPERLINK("http://evil.example","x")`, strings.Repeat("1", 60000), "0203.0.113.9"} {
		if got, err := ParseClientIP(in); ErrorCode(err) != EINVALID {
			t.Errorf("ParseClientIP(%.40q) = %q, %v; want EINVALID", in, got, err)
		}
	}
}

func FuzzParseClientIP(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "::ffff:1.2.3.4", "fe80::1%eth0", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseClientIP(s)
		if err != nil {
			return
		}
		again, err := ParseClientIP(got)
		if err != nil || again != got || len(got) > 45 {
			t.Fatalf("ParseClientIP(%q) = %q, which reads back as %q, %v", s, got, again, err)
		}
	})
}
