package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// Every domain error code has its own row in the one table: none falls through to "internal" by
// being forgotten, and the table names no code the domain does not have.
func TestEveryErrorCodeHasItsOwnRow(t *testing.T) {
	declared := map[string]bool{}
	for _, code := range DomainErrorCodes(t) {
		declared[code] = true
		rows := 0
		for _, v := range errorTable {
			if v.code == code {
				rows++
			}
		}
		if rows != 1 {
			t.Errorf("code %q has %d rows in errorTable, want 1", code, rows)
		}
		v := classify(account.Errorf(code, "x"))
		if v.code != code || v.status == 0 || v.titleID == "" || v.messageID == "" || v.apiCode == "" {
			t.Errorf("code %q: classified as %+v", code, v)
		}
	}
	for _, v := range errorTable {
		if !declared[v.code] {
			t.Errorf("errorTable has a row for %q, which internal/account/errors.go does not declare", v.code)
		}
	}
}

// Errors from outside the domain are classified by what they mean.
func TestClassifyErrorsFromOutsideTheDomain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{secret.ErrBusy, account.EBUSY},
		{fmt.Errorf("hash: %w", secret.ErrBusy), account.EBUSY},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), account.EUNAVAILABLE},
		{errors.New("a bug"), account.EINTERNAL},
		{account.Errorf("no_such_code", "x"), account.EINTERNAL},
	} {
		if got := classify(tc.err).code; got != tc.code {
			t.Errorf("classify(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}
}
