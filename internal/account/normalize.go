package account

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLoginLength bounds what a sign-in form accepts as a login before any lookup.
const MaxLoginLength = 254

// NormalizeLogin prepares what a user typed in a username field (a username, an email address or a
// phone number) for lookup: trimmed, valid UTF-8, no control characters, bounded. Letter case is left
// alone: lookups compare case-insensitively. It reports false when the input cannot name any account.
func NormalizeLogin(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxLoginLength || !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	if p, ok := NormalizePhone(s); ok {
		return p, true
	}
	return s, true
}

// ValidateUsername checks a new username: 1 to 64 characters of letters, digits, '.', '_' and '-',
// starting with a letter or digit. Usernames are unique without regard to letter case.
func ValidateUsername(s string) error {
	if s == "" || len(s) > 64 {
		return Fail(EINVALID, "err_username_length", map[string]any{"Max": 64}, "username must be 1 to 64 characters")
	}
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return Fail(EINVALID, "err_username_chars", map[string]any{"Username": s}, "username %q may hold only letters a-z, digits, '.', '_' and '-', and must start with a letter or digit", s)
		}
	}
	return nil
}

// NormalizeEmail checks an email address and returns it trimmed. Deliberately simple: one '@', a
// non-empty local part, a domain with a dot, no spaces or control characters, at most 254 bytes.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Fail(EINVALID, "err_email_required", nil, "email is required")
	}
	if len(s) > 254 || !utf8.ValidString(s) {
		return "", Fail(EINVALID, "err_email_unreadable", nil, "email is not a valid address")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.Count(s, "@") != 1 {
		return "", Fail(EINVALID, "err_email_invalid", map[string]any{"Email": s}, "email %q is not a valid address", s)
	}
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", Fail(EINVALID, "err_email_invalid", map[string]any{"Email": s}, "email %q is not a valid address", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' || r == ',' || r == ';' || r == '"' {
			return "", Fail(EINVALID, "err_email_invalid", map[string]any{"Email": s}, "email %q is not a valid address", s)
		}
	}
	return s, nil
}

// NormalizePhone turns a phone number in international form into E.164 (+ and 7 to 15 digits),
// dropping spaces, dashes, dots and parentheses. A number without a leading + is not accepted: the
// country cannot be guessed.
func NormalizePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "+") || len(s) > 32 {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	out := b.String()
	if len(out) < 8 || len(out) > 16 || out[1] == '0' {
		return "", false
	}
	return out, true
}

// ValidatePhone is NormalizePhone for new data: empty is allowed, anything else must be E.164.
func ValidatePhone(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	p, ok := NormalizePhone(s)
	if !ok {
		return "", Fail(EINVALID, "err_phone_format", map[string]any{"Phone": s}, "phone %q must be in international form, such as +8613800000000", s)
	}
	return p, nil
}

// ValidateDisplayName checks a display name: printable, at most 200 characters.
func ValidateDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 200 {
		return "", Errorf(EINVALID, "display name must be valid text of at most 200 characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", Errorf(EINVALID, "display name must not contain control characters")
		}
	}
	return s, nil
}

// ClientNetwork is whom the limits per client count on (the spraying throttle, sends, lookups): an
// IPv4 address itself, and an IPv6 address's /64. A host is given at least a /64 and picks the
// rest of its address itself, so counted by address, one host could take a fresh one for each
// try and never meet a limit. What is not an address is counted as it is.
func ClientNetwork(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return client
	}
	return p.String()
}

// ParseClientIP reads a client's address another application reports: an IPv4 or IPv6 address,
// returned in its normal form (an IPv4-mapped IPv6 address as IPv4, no zone). Anything else is
// EINVALID: what lands in the audit log and its exports as an address is an address.
func ParseClientIP(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return "", Errorf(EINVALID, "client_ip must be an IPv4 or IPv6 address")
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return "", Errorf(EINVALID, "client_ip must be an IPv4 or IPv6 address")
	}
	return addr.WithZone("").Unmap().String(), nil
}
