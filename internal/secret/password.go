package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id parameters. Memory is in KiB.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // parallelism
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are the OWASP-recommended argon2id parameters:
// m=19456 KiB (19 MiB), t=2, p=1, 16-byte salt, 32-byte key.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on the parameters of a hash that is verified. Anything beyond them
// is refused as malformed so that an imported hash cannot make a single
// verification exhaust memory or CPU.
const (
	maxMemory     = 1 << 20 // KiB, 1 GiB
	maxTime       = 20
	maxThreads    = 16
	minKeyLen     = 4 // as the reference implementation
	maxKeyLen     = 128
	minSaltLen    = 8 // as the reference implementation
	maxSaltLen    = 64
	minBcryptCost = bcrypt.MinCost // 4
	// maxBcryptCost is far below bcrypt's own limit of 31: cost 31 takes
	// days per verification. Cost 16 takes several seconds already.
	maxBcryptCost = 16
	// maxEncodedLen bounds the hash string before any parsing. The largest
	// acceptable argon2id hash (64-byte salt, 128-byte key, maximal
	// parameters) is well under 300 characters.
	maxEncodedLen = 512

	// Hashes that this package generates must be at least this strong.
	minGenSaltLen = 16
	minGenKeyLen  = 16
)

// ErrMalformedHash is wrapped by every error reporting a password hash that
// cannot be parsed, is of an unsupported kind, or has parameters out of range.
var ErrMalformedHash = errors.New("malformed password hash")

// ErrInvalidParams is wrapped by the errors of Params.Validate.
var ErrInvalidParams = errors.New("invalid argon2id parameters")

// hashError is a short, human error message about a malformed hash (shown as
// is, for instance next to a line number in a CSV import). It matches
// ErrMalformedHash with errors.Is. Messages never contain the hash itself.
type hashError string

func (e hashError) Error() string { return string(e) }
func (e hashError) Unwrap() error { return ErrMalformedHash }

const (
	errEmpty          = hashError("empty hash")
	errTooLong        = hashError("hash too long")
	errUnknownKind    = hashError("not an argon2id or bcrypt hash")
	errArgonVariant   = hashError("only argon2id is supported, not argon2i or argon2d")
	errArgonFormat    = hashError("not a well-formed argon2id hash")
	errArgonVersion   = hashError("unsupported argon2 version (want v=19)")
	errArgonParams    = hashError("bad argon2id parameters")
	errArgonMemory    = hashError("argon2id memory out of range")
	errArgonTime      = hashError("argon2id time out of range")
	errArgonThreads   = hashError("argon2id parallelism out of range")
	errArgonSalt      = hashError("bad argon2id salt encoding")
	errArgonSaltLen   = hashError("argon2id salt length out of range")
	errArgonKey       = hashError("bad argon2id hash encoding")
	errArgonKeyLen    = hashError("argon2id hash length out of range")
	errBcryptLen      = hashError("bcrypt hash has the wrong length")
	errBcryptVersion  = hashError("unsupported bcrypt version (want $2a$, $2b$ or $2y$)")
	errBcryptCost     = hashError("bcrypt cost out of range")
	errBcryptEncoding = hashError("bad bcrypt encoding")
	errBcryptPassword = hashError("bcrypt hash could not be checked")
)

const (
	argon2idPrefix     = "$argon2id$"
	argon2Version      = argon2.Version // 19 (0x13)
	bcryptHashLen      = 60
	bcryptAlphabet     = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	bcryptPayloadStart = 7 // after "$2b$NN$"
)

// Validate reports whether p can be used to generate hashes: within the
// limits that VerifyPassword accepts, at least 16-byte salt and key, at least
// one pass and thread, and memory of at least 8 KiB per thread (the argon2
// minimum). It does not enforce a minimum memory, so that tests can use
// cheap parameters; production configuration should use DefaultParams or
// stronger.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("%w: time must be 1..%d", ErrInvalidParams, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("%w: threads must be 1..%d", ErrInvalidParams, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("%w: memory must be 8*threads..%d KiB", ErrInvalidParams, maxMemory)
	case p.SaltLen < minGenSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("%w: salt length must be %d..%d", ErrInvalidParams, minGenSaltLen, maxSaltLen)
	case p.KeyLen < minGenKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: key length must be %d..%d", ErrInvalidParams, minGenKeyLen, maxKeyLen)
	}
	return nil
}

// HashPassword hashes password with argon2id and a fresh random salt and
// returns a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<base64 salt>$<base64 hash>
//
// base64 is unpadded standard encoding, as the reference implementation.
func HashPassword(password string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodeArgon2id(p, salt, key), nil
}

func encodeArgon2id(p Params, salt, key []byte) string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2idPrefix, argon2Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword checks password against an encoded hash, either an argon2id
// PHC string or a bcrypt hash ($2a$, $2b$ or $2y$).
//
// ok reports whether the password matches. needsRehash is true only when ok
// is true and the hash should be replaced by HashPassword(password, want):
// it is a bcrypt hash, or an argon2id hash whose parameters (including salt
// and key length) differ from want. The comparison is in constant time.
//
// A malformed or unsupported hash, including one whose parameters are absurd
// (memory > 1 GiB, t > 20, p > 16, key > 128 bytes, bcrypt cost > 16),
// returns an error wrapping ErrMalformedHash. A mismatch is not an error.
//
// As with every bcrypt implementation, only the first 72 bytes of the
// password count against a bcrypt hash.
func VerifyPassword(password, encoded string, want Params) (ok, needsRehash bool, err error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	if h.bcrypt {
		err := bcrypt.CompareHashAndPassword(h.bcryptHash, []byte(password))
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			// parseBcrypt should have caught everything bcrypt rejects.
			return false, false, errBcryptPassword
		}
	}
	got := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	if subtle.ConstantTimeCompare(got, h.key) != 1 {
		return false, false, nil
	}
	return true, h.params != want, nil
}

// ValidateHash checks that encoded is a well-formed argon2id PHC string or
// bcrypt hash that VerifyPassword accepts. The error wraps ErrMalformedHash
// and its message is short and meant for humans, such as "not an argon2id
// or bcrypt hash" or "bcrypt cost out of range"; it never contains the hash.
func ValidateHash(encoded string) error {
	_, err := parseHash(encoded)
	return err
}

// parsedHash is a hash that passed all checks.
type parsedHash struct {
	bcrypt     bool
	bcryptHash []byte // bcrypt: the hash with $2y$ rewritten to $2b$
	bcryptCost int
	params     Params // argon2id: SaltLen and KeyLen are those of salt and key
	salt, key  []byte
}

func parseHash(encoded string) (parsedHash, error) {
	switch {
	case encoded == "":
		return parsedHash{}, errEmpty
	case len(encoded) > maxEncodedLen:
		return parsedHash{}, errTooLong
	case strings.HasPrefix(encoded, argon2idPrefix):
		return parseArgon2id(encoded)
	case strings.HasPrefix(encoded, "$argon2i$"), strings.HasPrefix(encoded, "$argon2d$"):
		return parsedHash{}, errArgonVariant
	case strings.HasPrefix(encoded, "$2"):
		return parseBcrypt(encoded)
	}
	return parsedHash{}, errUnknownKind
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$key strictly: fields
// in this order, decimal numbers without sign or leading zeros, unpadded
// canonical standard base64, no keyid or data fields.
func parseArgon2id(encoded string) (parsedHash, error) {
	fields := strings.Split(encoded[len(argon2idPrefix):], "$")
	if len(fields) == 3 && strings.HasPrefix(fields[0], "m=") {
		// The reference implementation treats a missing version as 0x10,
		// which Go's argon2 does not implement.
		return parsedHash{}, errArgonVersion
	}
	if len(fields) != 4 {
		return parsedHash{}, errArgonFormat
	}
	version, ok := strings.CutPrefix(fields[0], "v=")
	if !ok {
		return parsedHash{}, errArgonVersion
	}
	if v, ok := parseDecimal(version, 0xff); !ok || v != argon2Version {
		return parsedHash{}, errArgonVersion
	}

	var p Params
	ps := strings.Split(fields[1], ",")
	if len(ps) != 3 {
		return parsedHash{}, errArgonParams
	}
	for i, name := range []string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return parsedHash{}, errArgonParams
		}
		// Bound the parse to uint32 (all parameters are uint32 in the
		// reference); the range checks below are tighter.
		v, ok := parseDecimal(s, 1<<32-1)
		if !ok {
			return parsedHash{}, errArgonParams
		}
		switch i {
		case 0:
			p.Memory = uint32(v)
		case 1:
			p.Time = uint32(v)
		case 2:
			if v < 1 || v > maxThreads {
				return parsedHash{}, errArgonThreads
			}
			p.Threads = uint8(v)
		}
	}
	if p.Time < 1 || p.Time > maxTime {
		return parsedHash{}, errArgonTime
	}
	// argon2 needs at least 8 KiB per lane; Go's argon2 would silently
	// round up, the reference refuses.
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return parsedHash{}, errArgonMemory
	}

	salt, ok := decodeB64(fields[2])
	if !ok {
		return parsedHash{}, errArgonSalt
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return parsedHash{}, errArgonSaltLen
	}
	key, ok := decodeB64(fields[3])
	if !ok {
		return parsedHash{}, errArgonKey
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return parsedHash{}, errArgonKeyLen
	}
	p.SaltLen = uint32(len(salt))
	p.KeyLen = uint32(len(key))
	return parsedHash{params: p, salt: salt, key: key}, nil
}

// parseDecimal parses a non-empty run of ASCII digits without leading zeros
// (except "0" itself) and at most max.
func parseDecimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > max {
		return 0, false
	}
	return v, true
}

// decodeB64 decodes unpadded standard base64 and accepts only the canonical
// encoding (Go's decoder otherwise skips newlines and ignores trailing bits).
// The input is short: parseHash bounds the whole hash to maxEncodedLen.
func decodeB64(s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawStdEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// parseBcrypt accepts exactly $2a$, $2b$ or $2y$, a two-digit cost in range,
// and a 22-character salt plus 31-character hash in bcrypt's base64 alphabet.
// Exactly 60 characters: Go's bcrypt would otherwise ignore trailing bytes.
func parseBcrypt(encoded string) (parsedHash, error) {
	if len(encoded) != bcryptHashLen {
		return parsedHash{}, errBcryptLen
	}
	switch encoded[:4] {
	case "$2a$", "$2b$", "$2y$":
	default:
		return parsedHash{}, errBcryptVersion
	}
	if encoded[6] != '$' {
		return parsedHash{}, errBcryptEncoding
	}
	cost, ok := parseBcryptCost(encoded[4:6])
	if !ok {
		return parsedHash{}, errBcryptEncoding
	}
	if cost < minBcryptCost || cost > maxBcryptCost {
		return parsedHash{}, errBcryptCost
	}
	for i := bcryptPayloadStart; i < len(encoded); i++ {
		if strings.IndexByte(bcryptAlphabet, encoded[i]) < 0 {
			return parsedHash{}, errBcryptEncoding
		}
	}
	h := []byte(encoded)
	if h[2] == 'y' {
		// $2y$ (PHP's crypt_blowfish) is the same algorithm as $2b$.
		h[2] = 'b'
	}
	return parsedHash{bcrypt: true, bcryptHash: h, bcryptCost: cost}, nil
}

// parseBcryptCost parses the two-digit cost field ("04".."31").
func parseBcryptCost(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
