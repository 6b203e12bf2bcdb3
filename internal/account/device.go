package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
)

// keyed returns HMAC-SHA256 under the service key over length-prefixed parts.
func (s *kit) keyed(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// passwordMAC identifies a wrong password for one account without keeping anything that could be
// cracked offline without the server's key.
func (s *kit) passwordMAC(accountID int64, password string) []byte {
	return s.keyed("wrong-password", strconv.FormatInt(accountID, 10), password)
}

// newDeviceToken makes a device cookie value: a random nonce and its HMAC. It returns the value and
// the nonce's hash, which is all the database keeps.
func (s *kit) newDeviceToken() (token string, nonceHash []byte, err error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	n := string(nonce)
	token = base64.RawURLEncoding.EncodeToString(nonce) + "." + base64.RawURLEncoding.EncodeToString(s.keyed("device", n))
	h := sha256.Sum256(nonce)
	return token, h[:], nil
}

// deviceNonceHash checks a device cookie's signature and returns its nonce hash; ok is false for a
// forged or malformed cookie, which is then treated as no cookie at all.
func (s *kit) deviceNonceHash(token string) ([]byte, bool) {
	a, b, found := strings.Cut(token, ".")
	if !found || len(token) > 200 {
		return nil, false
	}
	nonce, err1 := base64.RawURLEncoding.DecodeString(a)
	mac, err2 := base64.RawURLEncoding.DecodeString(b)
	if err1 != nil || err2 != nil || len(nonce) != 16 || !hmac.Equal(mac, s.keyed("device", string(nonce))) {
		return nil, false
	}
	h := sha256.Sum256(nonce)
	return h[:], true
}
