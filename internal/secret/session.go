package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// sessionKey is the key of one session's data: HMAC-SHA256 of the session token under the server
// key. The store keeps only the token's SHA-256, so neither a copy of the session table nor the
// server key alone can read a session; it takes the token the browser holds as well.
func sessionKey(serverKey []byte, token string) []byte {
	m := hmac.New(sha256.New, serverKey)
	m.Write([]byte("session\x00"))
	m.Write([]byte(token))
	return m.Sum(nil)
}

func sessionAEAD(serverKey []byte, token string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(sessionKey(serverKey, token))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealSession encrypts a session's data for storage (SECURITY.md 29) with AES-256-GCM under a key
// derived from the server key and the session's token: a random nonce, then the sealed data.
func SealSession(serverKey []byte, token string, data []byte) ([]byte, error) {
	gcm, err := sessionAEAD(serverKey, token)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, data, nil), nil
}

// ErrSessionUnreadable is data that does not open with this token and server key.
var ErrSessionUnreadable = errors.New("session data does not open with this token and key")

// OpenSession decrypts what SealSession made for the same token and server key.
func OpenSession(serverKey []byte, token string, sealed []byte) ([]byte, error) {
	gcm, err := sessionAEAD(serverKey, token)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, ErrSessionUnreadable
	}
	data, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return nil, ErrSessionUnreadable
	}
	return data, nil
}
