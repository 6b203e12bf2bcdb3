package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// keyed's parts are framed by their lengths, so no two lists of parts share a MAC.
func TestKeyedFramesItsParts(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	s, other := &kit{key: key}, &kit{key: []byte("other key")}
	tests := []struct {
		name string
		a, b []string
	}{
		{"moved boundary", []string{"ab", "c"}, []string{"a", "bc"}},
		{"empty part", []string{"a"}, []string{"a", ""}},
		{"no parts vs empty part", nil, []string{""}},
		{"two empty vs one", []string{"", ""}, []string{""}},
		{"order", []string{"a", "b"}, []string{"b", "a"}},
		{"length-like content", []string{"\x00\x00\x00\x00\x00\x00\x00\x01a"}, []string{"a"}},
		{"concatenation", []string{"abc"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if hmac.Equal(s.keyed(tt.a...), s.keyed(tt.b...)) {
				t.Errorf("keyed(%q) == keyed(%q)", tt.a, tt.b)
			}
		})
	}

	if !hmac.Equal(s.keyed("a", "bc"), s.keyed("a", "bc")) {
		t.Error("keyed is not deterministic")
	}
	if hmac.Equal(s.keyed("a"), other.keyed("a")) {
		t.Error("keyed ignores the key")
	}
	// The framing is an 8-byte big-endian length before each part.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("\x00\x00\x00\x00\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c"))
	if want := m.Sum(nil); !hmac.Equal(s.keyed("ab", "c"), want) || len(want) != 32 {
		t.Errorf("keyed(ab, c) = %x, want %x", s.keyed("ab", "c"), want)
	}
}
