package secret

import (
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// PasswordStrength scores a password from 0 (guessable) to 4 with zxcvbn, whose dictionaries hold
// the common passwords, names and words; context holds words of the person's own (username,
// email) that make a password easy to guess for someone who knows them. Only the first 100 code
// points are scored: zxcvbn's cost grows quickly with length, and beyond that length is strength.
func PasswordStrength(password string, context []string) (score int, warning string) {
	if utf8.RuneCountInString(password) > 100 {
		password = string([]rune(password)[:100])
	}
	r := zxcvbn.PasswordStrength(password, context)
	return r.Score, ""
}
