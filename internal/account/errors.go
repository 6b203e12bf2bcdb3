package account

import (
	"errors"
	"fmt"
)

// Error codes. The server maps each to an HTTP status in one place.
const (
	EINVALID      = "invalid"      // bad input; Message says what to fix
	ENOTFOUND     = "not_found"    // no such thing (never shown to anonymous users for accounts)
	ECONFLICT     = "conflict"     // already exists
	EUNAUTHORIZED = "unauthorized" // credentials not accepted; deliberately says no more
	EFORBIDDEN    = "forbidden"    // the actor may not do this
	EBUSY         = "busy"         // too much work at once; try again shortly
	ETHROTTLED    = "throttled"    // this client tried too much; try again later
	EUNAVAILABLE  = "unavailable"  // a dependency (the database) is down
	EINTERNAL     = "internal"     // a bug or unexpected failure; details only in the log
)

// Error is the domain's error: a code for programs and a message for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("account error: code=%s message=%s", e.Code, e.Message)
}

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL for errors that are not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err; internal errors say only "Internal error."
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
