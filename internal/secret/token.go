package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// tokenBytes is the entropy of NewToken: 256 bits.
const tokenBytes = 32

// NewToken returns a URL-safe random token: 32 bytes from crypto/rand,
// base64 RawURLEncoding (43 characters). Store only HashToken(token).
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: reading random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the SHA-256 of token (32 bytes), the form in which
// tokens are stored and looked up. Tokens carry 256 bits of entropy, so an
// unsalted fast hash is appropriate.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewCode returns a string of n decimal digits, n in 4..12, each digit drawn
// uniformly from crypto/rand (bytes >= 250 are rejected, so there is no
// modulo bias). Leading zeros are kept: treat the code as a string.
func NewCode(n int) (string, error) {
	return newCode(rand.Reader, n)
}

func newCode(r io.Reader, n int) (string, error) {
	if n < 4 || n > 12 {
		return "", fmt.Errorf("secret: code length %d out of range 4..12", n)
	}
	code := make([]byte, 0, n)
	buf := make([]byte, n+4) // a few spare bytes, as about 2% are rejected
	for len(code) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("secret: reading random code: %w", err)
		}
		for _, b := range buf {
			// 250 is the largest multiple of 10 that fits in a byte:
			// keeping only 0..249 makes b%10 uniform.
			if b >= 250 {
				continue
			}
			code = append(code, '0'+b%10)
			if len(code) == n {
				break
			}
		}
	}
	return string(code), nil
}

// SessionHandle names a session on the account page without revealing its token: the hex of the
// first 8 bytes of the token's SHA-256 (the session store keys sessions by that hash).
func SessionHandle(token string) string {
	h := HashToken(token)
	return hex.EncodeToString(h[:8])
}
