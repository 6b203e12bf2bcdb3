package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
)

// Pages and the API answer every domain error by the one table: the same status and Retry-After,
// and in the API the stable code of the contract.
func TestPagesAndAPIAnswerEveryErrorCodeAlike(t *testing.T) {
	t.Parallel()
	want := map[string]struct {
		status     int
		apiCode    string
		retryAfter string
	}{
		account.EINVALID:      {http.StatusBadRequest, "invalid", ""},
		account.ENOTFOUND:     {http.StatusNotFound, "not_found", ""},
		account.ECONFLICT:     {http.StatusConflict, "conflict", ""},
		account.EUNAUTHORIZED: {http.StatusUnauthorized, "unauthorized", ""},
		account.EFORBIDDEN:    {http.StatusForbidden, "forbidden", ""},
		account.EBUSY:         {http.StatusServiceUnavailable, "unavailable", "2"},
		account.ETHROTTLED:    {http.StatusTooManyRequests, "throttled", "900"},
		account.EUNAVAILABLE:  {http.StatusServiceUnavailable, "unavailable", "5"},
		account.EDIRECTORY:    {http.StatusServiceUnavailable, "directory_unavailable", "30"},
		account.EINTERNAL:     {http.StatusInternalServerError, "internal", ""},
	}
	h := newHarness(t)
	for _, code := range accounttest.ErrorCodes(t) {
		w, ok := want[code]
		if !ok {
			t.Errorf("code %q: no expected answer in this test", code)
			continue
		}
		err := account.Errorf(code, "Domain message.")

		page := httptest.NewRecorder()
		h.srv.RenderErrorForTest(page, httptest.NewRequest("GET", "/unlock", nil), err)
		if page.Code != w.status || page.Header().Get("Retry-After") != w.retryAfter ||
			!strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
			t.Errorf("page for %q: %d, Retry-After %q; want %d, %q", code, page.Code, page.Header().Get("Retry-After"), w.status, w.retryAfter)
		}

		api := httptest.NewRecorder()
		h.srv.APIFailForTest(api, httptest.NewRequest("GET", "/api/v1/audit", nil), err)
		var body struct {
			Error struct{ Code, Message string }
		}
		if jerr := json.Unmarshal(api.Body.Bytes(), &body); jerr != nil {
			t.Fatalf("API answer for %q: %v", code, jerr)
		}
		if api.Code != w.status || api.Header().Get("Retry-After") != w.retryAfter || body.Error.Code != w.apiCode {
			t.Errorf("API for %q: %d %q, Retry-After %q; want %d %q, %q", code, api.Code, body.Error.Code,
				api.Header().Get("Retry-After"), w.status, w.apiCode, w.retryAfter)
		}
		// The caller reads the domain's message about its own request, never about the server's.
		if mine := body.Error.Message == "Domain message."; mine != (w.status < 500 && code != account.ENOTFOUND) {
			t.Errorf("API for %q: message %q", code, body.Error.Message)
		}
	}
}
