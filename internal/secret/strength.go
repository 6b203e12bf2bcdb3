package secret

import (
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
)

// Reasons PasswordStrength gives for a guessable password: the kind of pattern that makes up most of
// it, which is what a guessing program tries. The pages show each in words.
const (
	ReasonCommonPassword = "common_password" // one of the passwords leaked most often
	ReasonWord           = "word"            // a common English word or phrase
	ReasonName           = "name"            // a common first name or surname
	ReasonPersonal       = "personal"        // the person's own name, username, email or phone
	ReasonRepeat         = "repeat"          // aaa, abcabc
	ReasonSequence       = "sequence"        // abcd, 6543
	ReasonKeyboard       = "keyboard"        // qwerty, zxcvbn, 1qaz2wsx
	ReasonDate           = "date"            // 1987, 13.05.1987
)

// dictionaryReasons names zxcvbn's dictionaries as reasons.
var dictionaryReasons = map[string]string{
	"passwords":         ReasonCommonPassword,
	"english_wikipedia": ReasonWord,
	"us_tv_and_film":    ReasonWord,
	"surnames":          ReasonName,
	"male_names":        ReasonName,
	"female_names":      ReasonName,
	"user_inputs":       ReasonPersonal,
}

// patternReasons names zxcvbn's other patterns as reasons. Its only regex is a recent year.
var patternReasons = map[string]string{
	"repeat":   ReasonRepeat,
	"sequence": ReasonSequence,
	"spatial":  ReasonKeyboard,
	"date":     ReasonDate,
	"regex":    ReasonDate,
}

// PasswordStrength scores a password from 0 (guessable) to 4 with zxcvbn, whose dictionaries hold
// the common passwords, names and words; context holds words of the person's own (username,
// email) that make a password easy to guess for someone who knows them. Only the first 100 code
// points are scored: zxcvbn's cost grows quickly with length, and beyond that length is strength.
//
// reason is one of the Reason constants: the pattern that covers most of the password, the one a
// person should change. It is "" when no pattern stands out (the password is merely short) and
// whenever the score is 3 or more.
func PasswordStrength(password string, context []string) (score int, reason string) {
	if utf8.RuneCountInString(password) > 100 {
		password = string([]rune(password)[:100])
	}
	r := zxcvbn.PasswordStrength(password, context)
	if r.Score >= 3 {
		return r.Score, ""
	}
	return r.Score, mainReason(r.Sequence)
}

// mainReason is the reason of the longest recognised pattern in the sequence zxcvbn found easiest
// to guess; characters it could only brute-force say nothing.
func mainReason(seq []*match.Match) string {
	reason, longest := "", 0
	for _, m := range seq {
		var why string
		if m.Pattern == "dictionary" {
			why = dictionaryReasons[m.DictionaryName]
		} else {
			why = patternReasons[m.Pattern]
		}
		if n := utf8.RuneCountInString(m.Token); why != "" && n > longest {
			reason, longest = why, n
		}
	}
	return reason
}
