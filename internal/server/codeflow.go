package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

// A code flow is the shape /unlock, /status and /login/code share: a start form takes a username
// (and a channel), a code goes to the contact on file if there is an account, and a verify form
// takes the code. The start page answers the same whether or not the account exists, so the
// username is remembered in the session, not confirmed on the page.
//
// The flow's whole state is one account.Flow kept in the session, restarted at every start
// (account.RestartFlow): the codes sent in it are bound to its nonce, and the methods proven in it
// to the account they were proven for.

// codeFlow describes one flow.
type codeFlow struct {
	purpose    account.Purpose
	path       string // /unlock, /status, /login/code, /verify: the start form
	verifyPath string // the code form: path + "/verify"
	titleID    string
	introID    string
	startPage  string
	withMethod bool
	// withFactors offers the authenticator and recovery codes as methods too (unlock).
	withFactors bool
}

func flowKey(p account.Purpose) string { return "flow_" + string(p) }

// loadFlow reads the browser's flow for a purpose; nil when there is none (or it is not whole).
func (s *recoveryPages) loadFlow(r *http.Request, p account.Purpose) *account.Flow {
	var f account.Flow
	if err := json.Unmarshal([]byte(s.sessions.GetString(r.Context(), flowKey(p))), &f); err != nil || !f.Valid(p) {
		return nil
	}
	return &f
}

// saveFlow keeps a flow in the browser's session.
func (s *recoveryPages) saveFlow(r *http.Request, f *account.Flow) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	s.sessions.Put(r.Context(), flowKey(f.Purpose), string(b))
	return nil
}

// endFlow forgets the browser's flow for a purpose.
func (s *recoveryPages) endFlow(r *http.Request, p account.Purpose) {
	s.sessions.Remove(r.Context(), flowKey(p))
}

type codeStartData struct {
	Flow        string
	IntroID     string
	WithMethod  bool
	WithFactors bool
	SMS         bool
	Method      string
}

type codeVerifyData struct {
	Flow        string
	WithMethod  bool
	WithFactors bool
	SMS         bool
	Method      string
	// AskedAt is when this browser asked for the code it is to enter (zero for an authenticator or
	// recovery code); WaitSeconds how long until it may ask again by the same method, and NextAt when.
	AskedAt     time.Time
	NextAt      time.Time
	WaitSeconds int
}

// codeStartForm shows the start form.
func (s *recoveryPages) codeStartForm(f codeFlow) site.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		p := s.site.NewPage(r, f.titleID, s.codeStartData(f))
		p.Flash = s.site.Flashes.Pop(r)
		s.site.Render(w, r, http.StatusOK, f.startPage, p)
		return nil
	}
}

// codeStartSubmit starts a new flow and sends its code, then goes on to the code form.
func (s *recoveryPages) codeStartSubmit(f codeFlow) site.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		if err := r.ParseForm(); err != nil {
			s.site.RenderStatus(w, r, site.FormErrorStatus(err))
			return nil
		}
		login := strings.TrimSpace(r.PostForm.Get("username"))
		method := channelOf(r.PostForm.Get("method"))
		if f.withFactors && isFactor(r.PostForm.Get("method")) {
			method = r.PostForm.Get("method")
		}
		if _, ok := account.NormalizeLogin(login); !ok {
			p := s.site.NewPage(r, f.titleID, s.codeStartData(f))
			p.Error = p.L.T("flow_username_required")
			s.site.Render(w, r, http.StatusOK, f.startPage, p)
			return nil
		}
		// Nothing proven before a start carries over. Starting over for the same login keeps the
		// code already on its way: a new one is asked only once the resend interval has passed.
		flow, err := account.RestartFlow(s.loadFlow(r, f.purpose), f.purpose, login, method)
		if err != nil {
			return err
		}
		if !isFactor(method) {
			// An authenticator or recovery code needs no message; everything else gets one.
			if err := s.askFlowCode(r, flow, ""); err != nil {
				return err
			}
		}
		if err := s.saveFlow(r, flow); err != nil {
			return err
		}
		http.Redirect(w, r, f.verifyPath, http.StatusSeeOther)
		return nil
	}
}

func (s *recoveryPages) codeStartData(f codeFlow) codeStartData {
	return codeStartData{Flow: f.path, IntroID: f.introID, WithMethod: f.withMethod, WithFactors: f.withFactors,
		SMS: s.accounts.SelfService.SMSAvailable(), Method: account.ChannelEmail}
}

// askFlowCode asks for a code for the flow by its method. The next page says so with sentID (if
// any), or that the browser must wait to ask again.
func (s *recoveryPages) askFlowCode(r *http.Request, flow *account.Flow, sentID string) error {
	asked, _, err := s.accounts.SelfService.AskCode(r.Context(), flow, account.CodeRequest{
		Client: s.site.ClientIP(r), Lang: s.site.Localizer(r).Lang, DeviceToken: deviceCookie(r)})
	switch {
	case err != nil:
		return err
	case !asked:
		s.site.Flashes.Put(r, "info", "flow_code_wait")
	case sentID != "":
		s.site.Flashes.Put(r, "info", sentID)
	}
	return nil
}

// isFactor reports whether a method is proven without a message: an authenticator or recovery code.
func isFactor(method string) bool { return method == "totp" || method == "recovery" }

func channelOf(v string) string {
	if v == account.ChannelSMS {
		return account.ChannelSMS
	}
	return account.ChannelEmail
}

// codeVerifyForm shows the code form, or sends a visitor without a started flow back to its start.
func (s *recoveryPages) codeVerifyForm(f codeFlow) site.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.loadFlow(r, f.purpose) == nil {
			http.Redirect(w, r, f.path, http.StatusSeeOther)
			return nil
		}
		s.renderCodeForm(w, r, f, "")
		return nil
	}
}

func (s *recoveryPages) renderCodeForm(w http.ResponseWriter, r *http.Request, f codeFlow, errID string) {
	data := codeVerifyData{Flow: f.path, WithMethod: f.withMethod, WithFactors: f.withFactors, SMS: s.accounts.SelfService.SMSAvailable()}
	if flow := s.loadFlow(r, f.purpose); flow != nil {
		data.Method = flow.Method
		if !isFactor(flow.Method) && flow.AskedBy == flow.Method {
			data.AskedAt = flow.AskedAt
			next, err := s.accounts.SelfService.NextAsk(r.Context(), flow)
			if err != nil {
				s.site.RenderError(w, r, err)
				return
			}
			if wait := next.Sub(s.accounts.Now()); wait > 0 {
				data.NextAt, data.WaitSeconds = next, int((wait+time.Second-1)/time.Second)
			}
		}
	}
	p := s.site.NewPage(r, f.titleID, data)
	p.Flash = s.site.Flashes.Pop(r)
	if errID != "" {
		p.Error = p.L.T(errID)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "code", p)
}

// codeSubmission reads a verify form into a proof for the browser's flow. A submission that only
// names another method asks for a code by that method instead (the "send it by SMS instead"
// button).
func (s *recoveryPages) codeSubmission(w http.ResponseWriter, r *http.Request, f codeFlow) (p account.Proof, done bool, err error) {
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return p, true, nil
	}
	flow := s.loadFlow(r, f.purpose)
	if flow == nil {
		http.Redirect(w, r, f.path, http.StatusSeeOther)
		return p, true, nil
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if switchTo := r.PostForm.Get("method"); f.withMethod && code == "" && switchTo != "" {
		flow.Method = channelOf(switchTo)
		if f.withFactors && isFactor(switchTo) {
			flow.Method = switchTo
		} else if err := s.askFlowCode(r, flow, "flow_code_resent"); err != nil {
			return p, true, err
		}
		if err := s.saveFlow(r, flow); err != nil {
			return p, true, err
		}
		http.Redirect(w, r, f.verifyPath, http.StatusSeeOther)
		return p, true, nil
	}
	if code == "" {
		s.renderCodeForm(w, r, f, "flow_code_required")
		return p, true, nil
	}
	return account.Proof{Flow: flow, Code: code, Client: s.site.ClientIP(r), Lang: s.site.Localizer(r).Lang, DeviceToken: deviceCookie(r)}, false, nil
}

// isBadCode reports whether err is the one answer to a code that did not work.
func isBadCode(err error) bool { return errors.Is(err, account.ErrBadCode) }
