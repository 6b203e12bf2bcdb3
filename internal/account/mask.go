package account

import (
	"strings"
	"unicode/utf8"
)

// MaskEmail shows enough of an address for its owner to recognise it: a***@example.com.
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(email)
	return string(first) + "***" + email[at:]
}

// MaskPhone keeps the country code, the first digits and the last four (+86 138****0000), and
// hides at least four digits of every number: a short one shows fewer.
func MaskPhone(phone string) string {
	if len(phone) < 9 || phone[0] != '+' {
		return "****"
	}
	cc := 1
	switch {
	case strings.HasPrefix(phone, "+86"), strings.HasPrefix(phone, "+44"), strings.HasPrefix(phone, "+49"), strings.HasPrefix(phone, "+33"):
		cc = 2
	case strings.HasPrefix(phone, "+1"), strings.HasPrefix(phone, "+7"):
		cc = 1
	case len(phone) > 12:
		cc = 3
	}
	rest := phone[1+cc:]
	if len(rest) < 7 {
		return phone[:1+cc] + " ****" + rest[len(rest)-2:]
	}
	// At least four digits stay hidden, whatever the length: a short number shows fewer.
	tail := 2
	if len(rest) >= 9 {
		tail = 4
	}
	head := max(0, min(3, len(rest)-tail-4))
	return phone[:1+cc] + " " + rest[:head] + strings.Repeat("*", len(rest)-head-tail) + rest[len(rest)-tail:]
}
