package site

import (
	"net/http"
	"strings"

	"github.com/alexedwards/scs/v2"

	"github.com/unlockd/unlockd/internal/i18n"
)

// Flashes carry one message to the next page, in the session: what a form did, said after its
// redirect.
type Flashes struct {
	sessions  *scs.SessionManager
	localizer func(*http.Request) *i18n.Localizer
}

// Put carries a translated one-line message (by id) to the next page.
func (f *Flashes) Put(r *http.Request, kind, messageID string) {
	f.sessions.Put(r.Context(), sessFlash, kind+":"+messageID)
}

// PutText carries text that is already in the page's language (a domain error's message, or a
// translated message with numbers in it).
func (f *Flashes) PutText(r *http.Request, kind, text string) {
	f.sessions.Put(r.Context(), sessFlash, kind+"!:"+text)
}

// Pop takes the message carried to this page, if any.
func (f *Flashes) Pop(r *http.Request) *Flash {
	v := f.sessions.PopString(r.Context(), sessFlash)
	kind, id, ok := strings.Cut(v, ":")
	if !ok {
		return nil
	}
	if k, literal := strings.CutSuffix(kind, "!"); literal {
		return &Flash{Kind: k, Text: id}
	}
	return &Flash{Kind: kind, Text: f.localizer(r).T(id)}
}
