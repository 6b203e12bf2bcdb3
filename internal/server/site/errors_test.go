package site

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/secret"
)

// Every domain error code has its own row in the one table: none falls through to "internal" by
// being forgotten, and the table names no code the domain does not have.
func TestEveryErrorCodeHasItsOwnRow(t *testing.T) {
	declared := map[string]bool{}
	for _, code := range accounttest.ErrorCodes(t) {
		declared[code] = true
		rows := 0
		for _, v := range errorTable {
			if v.Code == code {
				rows++
			}
		}
		if rows != 1 {
			t.Errorf("code %q has %d rows in errorTable, want 1", code, rows)
		}
		v := Classify(account.Errorf(code, "x"))
		if v.Code != code || v.Status == 0 || v.TitleID == "" || v.MessageID == "" || v.APICode == "" {
			t.Errorf("code %q: classified as %+v", code, v)
		}
	}
	for _, v := range errorTable {
		if !declared[v.Code] {
			t.Errorf("errorTable has a row for %q, which internal/account/errors.go does not declare", v.Code)
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
		if got := Classify(tc.err).Code; got != tc.code {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}
}
