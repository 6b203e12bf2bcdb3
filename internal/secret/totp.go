package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTPPeriod is the length of one TOTP time step (RFC 6238, what authenticator apps use).
const TOTPPeriod = 30 * time.Second

// TOTPKey is a new authenticator secret: the base32 secret for manual entry and the otpauth URL
// that the QR code carries.
type TOTPKey struct {
	Secret string
	URL    string
}

// NewTOTPKey makes a 160-bit TOTP secret (SHA-1, 6 digits, 30 s: what every authenticator app reads).
func NewTOTPKey(issuer, accountName string) (TOTPKey, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: accountName, SecretSize: 20,
		Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPKey{}, err
	}
	return TOTPKey{Secret: k.Secret(), URL: k.URL()}, nil
}

// TOTPQRCode renders an otpauth URL as a PNG QR code of size x size pixels.
func TOTPQRCode(url string, size int) ([]byte, error) {
	k, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, err
	}
	img, err := k.Image(size, size)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MatchTOTP checks a code against the steps now-1, now and now+1 (a skew of at most one step) and
// returns the matching step, so the caller can refuse a step already used (replay).
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	current := now.Unix() / int64(TOTPPeriod/time.Second)
	for _, s := range []int64{current - 1, current, current + 1} {
		want, err := TOTPCode(secret, time.Unix(s*int64(TOTPPeriod/time.Second), 0))
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// TOTPCode computes the code of a secret at a time: what an authenticator app shows then.
func TOTPCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second),
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

var recoveryEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// NewRecoveryCode makes a recovery code of 80 random bits, written as four groups of four
// characters from an alphabet without 0/O and 1/I.
func NewRecoveryCode() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := recoveryEncoding.EncodeToString(b) // 16 characters
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16], nil
}

// NormalizeRecoveryCode accepts what people type: any case, spaces or dashes anywhere.
func NormalizeRecoveryCode(s string) string {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
	if len(s) != 16 {
		return s
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// sealKey derives the key that encrypts stored secrets from the server key.
func sealKey(key []byte) []byte {
	h := sha256.Sum256(append([]byte("unlockd totp seal\x00"), key...))
	return h[:]
}

// Seal encrypts a small secret (a TOTP secret) with AES-256-GCM under a key derived from the
// server key, so a copy of the database alone does not yield the secrets.
func Seal(key []byte, plain string) ([]byte, error) {
	block, err := aes.NewCipher(sealKey(key))
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, []byte(plain), nil), nil
}

// Open decrypts what Seal made.
func Open(key, sealed []byte) (string, error) {
	block, err := aes.NewCipher(sealKey(key))
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(sealed) < gcm.NonceSize() {
		return "", errors.New("sealed secret too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return "", errors.New("sealed secret does not open with this key")
	}
	return string(plain), nil
}
