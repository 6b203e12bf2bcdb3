package secret

import (
	"bytes"
	"errors"
	"testing"
)

func TestSessionDataOpensOnlyWithItsTokenAndKey(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 32)
	data := []byte("totp_pending_secret=JBSWY3DPEHPK3PXP")
	sealed, err := SealSession(key, "token-a", data)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("the sealed data holds the plaintext")
	}
	again, _ := SealSession(key, "token-a", data)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same data are equal: the nonce is not fresh")
	}
	if got, err := OpenSession(key, "token-a", sealed); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("open = %q, %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"another token": func() ([]byte, error) { return OpenSession(key, "token-b", sealed) },
		"another key":   func() ([]byte, error) { return OpenSession(bytes.Repeat([]byte("x"), 32), "token-a", sealed) },
		"altered data": func() ([]byte, error) {
			b := bytes.Clone(sealed)
			b[len(b)-1] ^= 1
			return OpenSession(key, "token-a", b)
		},
		"truncated data": func() ([]byte, error) { return OpenSession(key, "token-a", sealed[:5]) },
		"plaintext":      func() ([]byte, error) { return OpenSession(key, "token-a", data) },
	} {
		if _, err := open(); !errors.Is(err, ErrSessionUnreadable) {
			t.Errorf("%s: %v, want ErrSessionUnreadable", name, err)
		}
	}
}
