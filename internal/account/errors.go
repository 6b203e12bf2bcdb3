package account

import (
	"errors"
	"fmt"
)

// Error codes. The server maps each to an HTTP status in one place.
const (
	EINVALID      = "invalid"               // bad input; Message says what to fix
	ENOTFOUND     = "not_found"             // no such thing (never shown to anonymous users for accounts)
	ECONFLICT     = "conflict"              // already exists
	EUNAUTHORIZED = "unauthorized"          // credentials not accepted; deliberately says no more
	EFORBIDDEN    = "forbidden"             // the actor may not do this
	EBUSY         = "busy"                  // too much work at once; try again shortly
	ETHROTTLED    = "throttled"             // this client tried too much; try again later
	EUNAVAILABLE  = "unavailable"           // a dependency (the database) is down
	EDIRECTORY    = "directory_unavailable" // the directory accounts live in does not answer
	EINTERNAL     = "internal"              // a bug or unexpected failure; details only in the log
)

// Error is the domain's error: a code for programs, and for people a message id (translated in
// web/locales) with the data that fills it. Message is the same refusal in English, for the log,
// the command line and the API.
type Error struct {
	Code      string
	MessageID string         // empty: the error is not meant for a page
	Data      map[string]any // fills the message; a Msg value is itself translated
	Message   string
	Problems  []*Error // several refusals reported at once, each with its own message
}

// Msg is a message id used as a value in an Error's Data: the page shows it translated, as a
// state's name ("state_frozen").
type Msg string

// StateName is the translated name of a state, for an Error's Data.
func StateName(s State) Msg { return Msg("state_" + string(s)) }

func (e *Error) Error() string {
	return fmt.Sprintf("account error: code=%s message=%s", e.Code, e.Message)
}

// Errorf builds an *Error whose text never reaches a page (the command line, the API, the log).
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Fail builds an *Error a person may read on a page: id names its message in web/locales and data
// fills it ("Count" also picks the plural form); format and args give the English Message. The id
// is a string literal, so that a test finds every id in the source.
func Fail(code, id string, data map[string]any, format string, args ...any) *Error {
	return &Error{Code: code, MessageID: id, Data: data, Message: fmt.Sprintf(format, args...)}
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
