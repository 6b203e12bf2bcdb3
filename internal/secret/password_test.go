package secret

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// testParams are cheap parameters so tests run fast.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Generated with the reference implementation's CLI (Debian package argon2):
//
//	echo -n password | argon2 somesalt -id -t 2 -k 65536 -p 1 -l 32 -e
//	echo -n 'correct horse' | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 1 -l 32 -e
//	echo -n 'correct horse' | argon2 saltsaltsaltsalt -id -t 3 -k 256 -p 4 -l 16 -e
//	echo -n pw | argon2 saltsaltsaltsalt -id -t 2 -k 100 -p 3 -l 20 -e
//
// and with Apache's htpasswd (PHP-style $2y$):
//
//	htpasswd -bnBC 5 "" 'correct horse'
const (
	refRFCVector   = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	refTestParams  = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"
	refOtherParams = "$argon2id$v=19$m=256,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$2tQS5B/sB4/b1w6vkkUPEg"
	refOddMemory   = "$argon2id$v=19$m=100,t=2,p=3$c2FsdHNhbHRzYWx0c2FsdA$PSSnNUw10T+fUY5MKZFxqJPplMk"
	htpasswd2y     = "$2y$05$CzLPJMs/vE2WefOWandehekDdmhJJq1KHjmErAVZVqs6.p7m8oqzO"
)

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHashPasswordFormat(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		re   string
	}{
		{"default", DefaultParams, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		{"small", testParams, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		{"other lengths", Params{Memory: 256, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64},
			`^\$argon2id\$v=19\$m=256,t=3,p=4\$[A-Za-z0-9+/]{43}\$[A-Za-z0-9+/]{86}$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h1, err := HashPassword("correct horse", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tt.re).MatchString(h1) {
				t.Errorf("HashPassword = %q, want match for %s", h1, tt.re)
			}
			h2, err := HashPassword("correct horse", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if h1 == h2 {
				t.Error("two hashes of the same password are equal: salt is not random")
			}
			if err := ValidateHash(h1); err != nil {
				t.Errorf("ValidateHash(own hash) = %v", err)
			}
		})
	}
}

func TestHashPasswordInvalidParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{"zero", Params{}},
		{"time 0", Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"time 21", Params{Memory: 64, Time: 21, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"threads 0", Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"threads 17", Params{Memory: 1024, Time: 1, Threads: 17, SaltLen: 16, KeyLen: 32}},
		{"memory below 8*threads", Params{Memory: 31, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}},
		{"memory above 1 GiB", Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"salt too short", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}},
		{"salt too long", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 65, KeyLen: 32}},
		{"key too short", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
		{"key too long", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 129}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); !errors.Is(err, ErrInvalidParams) {
				t.Errorf("Validate() = %v, want ErrInvalidParams", err)
			}
			h, err := HashPassword("pw", tt.p)
			if !errors.Is(err, ErrInvalidParams) || h != "" {
				t.Errorf("HashPassword = %q, %v; want ErrInvalidParams", h, err)
			}
		})
	}
	if err := DefaultParams.Validate(); err != nil {
		t.Errorf("DefaultParams.Validate() = %v", err)
	}
}

func TestVerifyPassword(t *testing.T) {
	own, err := HashPassword("correct horse", testParams)
	if err != nil {
		t.Fatal(err)
	}
	ownDefault, err := HashPassword("correct horse", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	other := Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	ownOther, err := HashPassword("correct horse", other)
	if err != nil {
		t.Fatal(err)
	}
	longSalt, err := HashPassword("correct horse", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	longKey, err := HashPassword("correct horse", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	bc := bcryptHash(t, "correct horse")
	bc2b := "$2b$" + bc[4:]
	bc2y := "$2y$" + bc[4:]
	unicode, err := HashPassword("pässwörd 密码 🔑", testParams)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := HashPassword("", testParams)
	if err != nil {
		t.Fatal(err)
	}
	long72 := strings.Repeat("x", 72)
	bcLong := bcryptHash(t, long72)

	tests := []struct {
		name       string
		password   string
		encoded    string
		want       Params
		ok, rehash bool
	}{
		{"round trip", "correct horse", own, testParams, true, false},
		{"round trip default", "correct horse", ownDefault, DefaultParams, true, false},
		{"wrong password", "correct horsf", own, testParams, false, false},
		{"wrong password default", "Correct horse", ownDefault, DefaultParams, false, false},
		{"prefix of password", "correct hors", own, testParams, false, false},
		{"password with suffix", "correct horse ", own, testParams, false, false},
		{"empty password", "", own, testParams, false, false},
		{"empty password hashed", "", empty, testParams, true, false},
		{"unicode", "pässwörd 密码 🔑", unicode, testParams, true, false},
		{"unicode wrong normalization", "pa\u0308sswörd 密码 🔑", unicode, testParams, false, false},

		{"rehash: memory differs", "correct horse", own, Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true, true},
		{"rehash: time differs", "correct horse", own, Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true, true},
		{"rehash: threads differ", "correct horse", own, Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true, true},
		{"rehash: salt length differs", "correct horse", longSalt, testParams, true, true},
		{"rehash: key length differs", "correct horse", longKey, testParams, true, true},
		{"rehash: all differ", "correct horse", ownOther, DefaultParams, true, true},
		{"rehash: old params to default", "correct horse", own, DefaultParams, true, true},
		{"no rehash when wrong", "wrong", ownOther, DefaultParams, false, false},

		{"reference vector (RFC 9106 parameters)", "password", refRFCVector, Params{Memory: 65536, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}, true, false},
		{"reference vector wrong", "passwore", refRFCVector, DefaultParams, false, false},
		{"reference CLI, test params", "correct horse", refTestParams, testParams, true, false},
		{"reference CLI, p=4, 16-byte key", "correct horse", refOtherParams, testParams, true, true},
		{"reference CLI, memory not a multiple of 4*p", "pw", refOddMemory, Params{Memory: 100, Time: 2, Threads: 3, SaltLen: 16, KeyLen: 20}, true, false},
		{"reference CLI, p=4 wrong", "correct horse!", refOtherParams, testParams, false, false},

		{"bcrypt $2a$", "correct horse", bc, testParams, true, true},
		{"bcrypt $2a$ wrong", "correct horsf", bc, testParams, false, false},
		{"bcrypt $2b$", "correct horse", bc2b, testParams, true, true},
		{"bcrypt $2y$", "correct horse", bc2y, testParams, true, true},
		{"bcrypt $2y$ wrong", "correct hors", bc2y, testParams, false, false},
		{"bcrypt $2y$ from htpasswd", "correct horse", htpasswd2y, DefaultParams, true, true},
		{"bcrypt $2y$ from htpasswd wrong", "Correct horse", htpasswd2y, DefaultParams, false, false},
		// bcrypt only ever looks at 72 bytes; the rehash to argon2id fixes that.
		{"bcrypt 72 bytes", long72, bcLong, testParams, true, true},
		{"bcrypt truncates at 72 bytes", long72 + "ignored", bcLong, testParams, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.password, tt.encoded, tt.want)
			if err != nil {
				t.Fatalf("VerifyPassword error: %v", err)
			}
			if ok != tt.ok || rehash != tt.rehash {
				t.Errorf("VerifyPassword = ok %v, needsRehash %v; want %v, %v", ok, rehash, tt.ok, tt.rehash)
			}
			if err := ValidateHash(tt.encoded); err != nil {
				t.Errorf("ValidateHash = %v", err)
			}
		})
	}
}

// A rehashed password (the flow after needsRehash) verifies without rehash.
func TestRehashFlow(t *testing.T) {
	bc := bcryptHash(t, "s3cret")
	ok, rehash, err := VerifyPassword("s3cret", bc, testParams)
	if err != nil || !ok || !rehash {
		t.Fatalf("bcrypt verify = %v, %v, %v", ok, rehash, err)
	}
	newHash, err := HashPassword("s3cret", testParams)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err = VerifyPassword("s3cret", newHash, testParams)
	if err != nil || !ok || rehash {
		t.Fatalf("argon2id verify after rehash = %v, %v, %v", ok, rehash, err)
	}
}

const validArgon = refTestParams // m=64,t=1,p=1, 16-byte salt, 32-byte key

// argonWith replaces the parameter section of validArgon.
func argonWith(params string) string {
	return "$argon2id$v=19$" + params + "$c2FsdHNhbHRzYWx0c2FsdA$rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"
}

// argonSaltKey builds a hash with test parameters and the given salt and key sections.
func argonSaltKey(salt, key string) string {
	return "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
}

func malformedCases(t testing.TB) []struct{ name, encoded, msg string } {
	bc := bcryptHash(t, "pw")
	b64 := func(n int) string { return strings.Repeat("A", (n*8+5)/6) }
	return []struct{ name, encoded, msg string }{
		{"empty", "", "empty hash"},
		{"blank", "   ", "not an argon2id or bcrypt hash"},
		{"plaintext", "hunter2", "not an argon2id or bcrypt hash"},
		{"dollar", "$", "not an argon2id or bcrypt hash"},
		{"dollars", "$$$$$$", "not an argon2id or bcrypt hash"},
		{"md5crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "not an argon2id or bcrypt hash"},
		{"sha512crypt", "$6$rounds=5000$salt$hash", "not an argon2id or bcrypt hash"},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", "not an argon2id or bcrypt hash"},
		{"uppercase kind", strings.Replace(validArgon, "argon2id", "ARGON2ID", 1), "not an argon2id or bcrypt hash"},
		{"leading space", " " + validArgon, "not an argon2id or bcrypt hash"},
		{"too long", validArgon + strings.Repeat("A", 1000), "hash too long"},
		{"huge", strings.Repeat("$", 1<<20), "hash too long"},

		{"argon2i", strings.Replace(validArgon, "argon2id", "argon2i", 1), "only argon2id is supported, not argon2i or argon2d"},
		{"argon2d", strings.Replace(validArgon, "argon2id", "argon2d", 1), "only argon2id is supported, not argon2i or argon2d"},
		{"prefix only", "$argon2id$", "not a well-formed argon2id hash"},
		{"truncated after version", "$argon2id$v=19$", "not a well-formed argon2id hash"},
		{"truncated after params", "$argon2id$v=19$m=64,t=1,p=1$", "not a well-formed argon2id hash"},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA", "not a well-formed argon2id hash"},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$", "bad argon2id hash encoding"},
		{"empty salt", argonSaltKey("", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"extra field", validArgon + "$AAAA", "not a well-formed argon2id hash"},
		{"trailing dollar", validArgon + "$", "not a well-formed argon2id hash"},
		{"no version", "$argon2id$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI", "unsupported argon2 version (want v=19)"},
		{"version 16", strings.Replace(validArgon, "v=19", "v=16", 1), "unsupported argon2 version (want v=19)"},
		{"version 019", strings.Replace(validArgon, "v=19", "v=019", 1), "unsupported argon2 version (want v=19)"},
		{"version empty", strings.Replace(validArgon, "v=19", "v=", 1), "unsupported argon2 version (want v=19)"},

		{"params empty", argonWith(""), "bad argon2id parameters"},
		{"params order", argonWith("t=1,m=64,p=1"), "bad argon2id parameters"},
		{"params missing p", argonWith("m=64,t=1"), "bad argon2id parameters"},
		{"params keyid", argonWith("m=64,t=1,p=1,keyid=AAAA"), "bad argon2id parameters"},
		{"params spaces", argonWith("m=64, t=1, p=1"), "bad argon2id parameters"},
		{"memory negative", argonWith("m=-64,t=1,p=1"), "bad argon2id parameters"},
		{"memory plus sign", argonWith("m=+64,t=1,p=1"), "bad argon2id parameters"},
		{"memory leading zero", argonWith("m=064,t=1,p=1"), "bad argon2id parameters"},
		{"memory hex", argonWith("m=0x40,t=1,p=1"), "bad argon2id parameters"},
		{"memory overflows uint32", argonWith("m=4294967296,t=1,p=1"), "bad argon2id parameters"},
		{"memory overflows uint64", argonWith("m=99999999999999999999,t=1,p=1"), "bad argon2id parameters"},
		{"memory above 1 GiB", argonWith("m=1048577,t=1,p=1"), "argon2id memory out of range"},
		{"memory max uint32", argonWith("m=4294967295,t=1,p=1"), "argon2id memory out of range"},
		{"memory zero", argonWith("m=0,t=1,p=1"), "argon2id memory out of range"},
		{"memory below 8 per lane", argonWith("m=31,t=1,p=4"), "argon2id memory out of range"},
		{"time zero", argonWith("m=64,t=0,p=1"), "argon2id time out of range"},
		{"time 21", argonWith("m=64,t=21,p=1"), "argon2id time out of range"},
		{"time huge", argonWith("m=64,t=4294967295,p=1"), "argon2id time out of range"},
		{"threads zero", argonWith("m=64,t=1,p=0"), "argon2id parallelism out of range"},
		{"threads 17", argonWith("m=1024,t=1,p=17"), "argon2id parallelism out of range"},
		{"threads 256 (uint8 wrap)", argonWith("m=4096,t=1,p=256"), "argon2id parallelism out of range"},
		{"threads 257 (uint8 wrap to 1)", argonWith("m=4096,t=1,p=257"), "argon2id parallelism out of range"},
		{"all absurd", argonWith("m=4294967295,t=4294967295,p=255"), "argon2id parallelism out of range"},

		{"salt bad char", argonSaltKey("c2Fsd!NhbHRzYWx0c2FsdA", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"salt padded", argonSaltKey("c2FsdHNhbHRzYWx0c2FsdA==", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"salt url alphabet", argonSaltKey("c2FsdHNhbHRzYWx0c2F-_A", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"salt trailing bits", argonSaltKey("c2FsdHNhbHRzYWx0c2FsdB", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"salt newline", argonSaltKey("c2FsdHNhbHRz\nYWx0c2FsdA", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"salt impossible length", argonSaltKey("c2FsdHNhbHRzYWx0c2Fsd", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "bad argon2id salt encoding"},
		{"salt 7 bytes", argonSaltKey(b64(7), "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "argon2id salt length out of range"},
		{"salt 65 bytes", argonSaltKey(b64(65), "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTuKI"), "argon2id salt length out of range"},
		{"hash bad char", argonSaltKey("c2FsdHNhbHRzYWx0c2FsdA", "rAjuexKlLdAHLvqk7TeeiWZjW4OPoRGwldJXdHbTu*I"), "bad argon2id hash encoding"},
		{"hash truncated", validArgon[:len(validArgon)-10], "bad argon2id hash encoding"},
		{"hash padded", validArgon + "=", "bad argon2id hash encoding"},
		{"hash trailing newline", validArgon + "\n", "bad argon2id hash encoding"},
		{"hash trailing CRLF", validArgon + "\r\n", "bad argon2id hash encoding"},
		{"hash trailing space", validArgon + " ", "bad argon2id hash encoding"},
		{"hash 3 bytes", argonSaltKey("c2FsdHNhbHRzYWx0c2FsdA", b64(3)), "argon2id hash length out of range"},
		{"hash 129 bytes", argonSaltKey("c2FsdHNhbHRzYWx0c2FsdA", b64(129)), "argon2id hash length out of range"},
		{"hash NUL", validArgon + "\x00", "bad argon2id hash encoding"},
		{"hash invalid UTF-8", validArgon[:len(validArgon)-1] + "\xff", "bad argon2id hash encoding"},

		{"bcrypt prefix only", "$2a$04$", "bcrypt hash has the wrong length"},
		{"bcrypt 59 chars", bc[:59], "bcrypt hash has the wrong length"},
		{"bcrypt 61 chars", bc + "x", "bcrypt hash has the wrong length"},
		{"bcrypt trailing newline", bc + "\n", "bcrypt hash has the wrong length"},
		{"bcrypt $2x$", "$2x$" + bc[4:], "unsupported bcrypt version (want $2a$, $2b$ or $2y$)"},
		{"bcrypt $2c$", "$2c$" + bc[4:], "unsupported bcrypt version (want $2a$, $2b$ or $2y$)"},
		{"bcrypt $2$", "$2$04$" + bc[7:] + "A", "unsupported bcrypt version (want $2a$, $2b$ or $2y$)"},
		{"bcrypt $2A$", "$2A$" + bc[4:], "unsupported bcrypt version (want $2a$, $2b$ or $2y$)"},
		{"bcrypt cost 03", bc[:4] + "03" + bc[6:], "bcrypt cost out of range"},
		{"bcrypt cost 00", bc[:4] + "00" + bc[6:], "bcrypt cost out of range"},
		{"bcrypt cost 17", bc[:4] + "17" + bc[6:], "bcrypt cost out of range"},
		{"bcrypt cost 31", bc[:4] + "31" + bc[6:], "bcrypt cost out of range"},
		{"bcrypt cost 99", bc[:4] + "99" + bc[6:], "bcrypt cost out of range"},
		{"bcrypt cost one digit", bc[:4] + "4$" + bc[6:], "bad bcrypt encoding"},
		{"bcrypt cost letters", bc[:4] + "0a" + bc[6:], "bad bcrypt encoding"},
		{"bcrypt cost sign", bc[:4] + "+4" + bc[6:], "bad bcrypt encoding"},
		{"bcrypt cost space", bc[:4] + " 4" + bc[6:], "bad bcrypt encoding"},
		{"bcrypt no dollar after cost", bc[:6] + "x" + bc[7:], "bad bcrypt encoding"},
		{"bcrypt bad char in salt", bc[:10] + "+" + bc[11:], "bad bcrypt encoding"},
		{"bcrypt bad char in hash", bc[:59] + "=", "bad bcrypt encoding"},
		{"bcrypt dollar in payload", bc[:30] + "$" + bc[31:], "bad bcrypt encoding"},
		{"bcrypt NUL in payload", bc[:30] + "\x00" + bc[31:], "bad bcrypt encoding"},
		{"bcrypt invalid UTF-8", bc[:59] + "\xff", "bad bcrypt encoding"},
	}
}

func TestMalformedHashes(t *testing.T) {
	for _, tt := range malformedCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateHash(tt.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("ValidateHash = %v, want ErrMalformedHash", err)
			}
			if err.Error() != tt.msg {
				t.Errorf("ValidateHash message = %q, want %q", err.Error(), tt.msg)
			}
			ok, rehash, err := VerifyPassword("pw", tt.encoded, testParams)
			if !errors.Is(err, ErrMalformedHash) || ok || rehash {
				t.Errorf("VerifyPassword = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
			}
			if strings.Contains(err.Error(), "c2FsdHNhbHRz") || strings.Contains(err.Error(), "rAjuex") {
				t.Errorf("error message leaks the hash: %q", err)
			}
		})
	}
}

// Every prefix and every single-byte corruption of valid hashes is handled
// without panicking: either rejected as malformed or a plain mismatch.
func TestCorruptedHashesNeverPanic(t *testing.T) {
	bc := bcryptHash(t, "pw")
	for _, valid := range []string{validArgon, refOtherParams, bc, htpasswd2y} {
		var variants []string
		for i := 0; i < len(valid); i++ {
			variants = append(variants, valid[:i])
			for _, c := range []byte{'$', ',', '=', '9', '+', 0xff} {
				v := []byte(valid)
				v[i] = c
				variants = append(variants, string(v))
			}
		}
		for _, v := range variants {
			checkVerify(t, "correct horse", v)
		}
	}
}

// checkVerify asserts the invariants of VerifyPassword on any input, but
// only runs the hash function itself when the parameters are cheap.
func checkVerify(t *testing.T, password, encoded string) {
	t.Helper()
	h, perr := parseHash(encoded)
	verr := ValidateHash(encoded)
	if (perr == nil) != (verr == nil) {
		t.Fatalf("parseHash and ValidateHash disagree on %q: %v, %v", encoded, perr, verr)
	}
	if verr != nil {
		if !errors.Is(verr, ErrMalformedHash) || verr.Error() == "" {
			t.Fatalf("ValidateHash(%q) = %v, want ErrMalformedHash", encoded, verr)
		}
		ok, rehash, err := VerifyPassword(password, encoded, testParams)
		if !errors.Is(err, ErrMalformedHash) || ok || rehash {
			t.Fatalf("VerifyPassword(%q) = %v, %v, %v; want ErrMalformedHash", encoded, ok, rehash, err)
		}
		return
	}
	if h.bcrypt {
		if h.bcryptCost > 4 {
			return
		}
	} else if uint64(h.params.Memory)*uint64(h.params.Time) > 1024 {
		return
	}
	ok, rehash, err := VerifyPassword(password, encoded, testParams)
	if err != nil {
		t.Fatalf("VerifyPassword(%q) on a valid hash: %v", encoded, err)
	}
	if rehash && !ok {
		t.Fatalf("VerifyPassword(%q): needsRehash without a match", encoded)
	}
}

func FuzzVerifyPassword(f *testing.F) {
	own, err := HashPassword("correct horse", testParams)
	if err != nil {
		f.Fatal(err)
	}
	bc := bcryptHash(f, "correct horse")
	for _, s := range []string{own, validArgon, refOtherParams, bc, "$2y$" + bc[4:], htpasswd2y} {
		f.Add("correct horse", s)
		f.Add("wrong", s)
	}
	for _, c := range malformedCases(f) {
		if len(c.encoded) <= 4096 {
			f.Add("pw", c.encoded)
		}
	}
	f.Fuzz(checkVerify)
}
