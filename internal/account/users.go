package account

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Accounts creates, imports, finds and lists accounts, for the CLI, the dashboard and the API.
type Accounts struct {
	*kit
	guard    *guard
	book     *codebook
	staff    *Staff
	accounts AccountStore
	work     UnitOfWork
	hasher   Hasher
}

// NewAccount is what an operator gives to create one account.
type NewAccount struct {
	Username    string
	Email       string
	Phone       string
	DisplayName string
	Role        Role
	Password    string // optional; hashed here
	Pending     bool   // start in pending_verification instead of active
	Language    string // of the account's messages: "" (learned at sign-in), en or zh-CN
	TimeZone    string // IANA zone the person reads times in: "" for the organisation's
}

// AddAccount validates and creates one account.
func (s *Accounts) AddAccount(ctx context.Context, in NewAccount, actor Actor) (*Account, error) {
	a, err := validateNew(in.Username, in.Email, in.Phone, in.DisplayName, in.Role)
	if err != nil {
		return nil, err
	}
	if a.Role, err = CheckRoleWrite(actor, "", in.Role); err != nil {
		return nil, err
	}
	if in.Pending {
		a.State = StatePendingVerification
	}
	if in.Language != "" && !ValidLanguage(in.Language) {
		return nil, Fail(EINVALID, "err_language", nil, "language %q must be en or zh-CN", in.Language)
	}
	a.Language = in.Language
	if err := checkTimeZone(in.TimeZone); err != nil {
		return nil, err
	}
	a.TimeZone = in.TimeZone
	if in.Password != "" {
		if err := CheckPasswordShape(in.Password, 1); err != nil {
			return nil, err
		}
		if a.PasswordHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return nil, fmt.Errorf("add account: %w", err)
		}
	}
	// The account and its first code are one unit: never a pending account that was sent nothing.
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		if err := s.accounts.CreateAccount(ctx, a, actor); err != nil {
			return err
		}
		if a.State != StatePendingVerification {
			return nil
		}
		// The new owner confirms the address with this code at /verify before the account is used.
		// It belongs to no flow: the owner enters it in whichever browser they open /verify in.
		return s.book.sendCode(ctx, CodeRequest{Login: a.Username, Channel: ChannelEmail, Purpose: PurposeVerify, Client: actor.Client}, s.now())
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// CheckPasswordShape applies the rules every password obeys: at least minLen and at most
// MaxPasswordLength code points, valid UTF-8. Strength rules come on top where a person chooses one.
func CheckPasswordShape(pw string, minLen int) error {
	if !utf8.ValidString(pw) {
		return Errorf(EINVALID, "password is not valid text")
	}
	n := utf8.RuneCountInString(pw)
	if n < minLen {
		return Errorf(EINVALID, "password must be at least %d characters", minLen)
	}
	if n > MaxPasswordLength {
		return Errorf(EINVALID, "password must be at most %d characters", MaxPasswordLength)
	}
	return nil
}

func validateNew(username, email, phone, displayName string, role Role) (*Account, error) {
	username = strings.TrimSpace(username)
	if err := ValidateUsername(username); err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if phone, err = ValidatePhone(phone); err != nil {
		return nil, err
	}
	if displayName, err = ValidateDisplayName(displayName); err != nil {
		return nil, err
	}
	// An empty role is left empty: it keeps an existing account's role (a new account is a user),
	// as CheckRoleWrite decides against the account as it stands.
	if role != "" && !role.Valid() {
		return nil, Errorf(EINVALID, "role %q must be user, helpdesk, auditor or admin", role)
	}
	return &Account{Username: username, Email: email, Phone: phone, DisplayName: displayName,
		Role: role, State: StateActive}, nil
}

// ImportRow is one validated line of an import file. Account.Role may be empty: an existing
// account keeps its role, a new one is a user.
type ImportRow struct {
	Line         int
	Account      *Account
	PasswordHash string // may be empty: the account then signs in by code or reset only, or keeps its hash
}

// PasswordNotice builds what a new password set by an import or the API queues with it (the
// owner's notice) from the account as it stood before the row: a row that also changes the email
// address still tells the address on file.
type PasswordNotice func(before *Account, now time.Time) []Message

// passwordSet is the PasswordNotice of imports and the API: the notice of every password change.
func (s *kit) passwordSet(before *Account, now time.Time) []Message {
	return s.passwordChanged(before, "", now)
}

// ImportHeader is the exact header an import file starts with.
var ImportHeader = []string{"username", "email", "phone", "display_name", "role", "password_hash"}

// ParseImport reads and validates a whole CSV import before anything is written. validHash checks
// one password hash (argon2id PHC or bcrypt). The error names the first bad line.
func ParseImport(r io.Reader, validHash func(string) error, pending bool) ([]ImportRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(ImportHeader)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, Errorf(EINVALID, "line 1: the file is empty; it must start with the header %s", strings.Join(ImportHeader, ","))
	} else if err != nil {
		return nil, csvError(err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	for i, h := range header {
		if strings.TrimSpace(strings.ToLower(h)) != ImportHeader[i] {
			return nil, Errorf(EINVALID, "line 1: the header must be %s", strings.Join(ImportHeader, ","))
		}
	}
	var rows []ImportRow
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		a, err := validateNew(rec[0], rec[1], rec[2], rec[3], Role(strings.TrimSpace(rec[4])))
		if err != nil {
			return nil, Errorf(EINVALID, "line %d: %s", line, ErrorMessage(err))
		}
		if pending {
			a.State = StatePendingVerification
		}
		for _, k := range []string{"u:" + strings.ToLower(a.Username), "e:" + strings.ToLower(a.Email), "p:" + a.Phone} {
			if k == "p:" {
				continue
			}
			if prev, dup := seen[k]; dup {
				return nil, Errorf(EINVALID, "line %d: %s repeats line %d", line, k[2:], prev)
			}
			seen[k] = line
		}
		hash := strings.TrimSpace(rec[5])
		if hash != "" {
			if err := validHash(hash); err != nil {
				return nil, Errorf(EINVALID, "line %d: password_hash: %v", line, err)
			}
		}
		a.PasswordHash = hash
		rows = append(rows, ImportRow{Line: line, Account: a, PasswordHash: hash})
	}
	if len(rows) == 0 {
		return nil, Errorf(EINVALID, "the file has a header but no accounts")
	}
	return rows, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Errorf(EINVALID, "line %d: %v", pe.Line, pe.Err)
	}
	return Errorf(EINVALID, "reading the file: %v", err)
}

// ImportAccounts writes validated rows: all or nothing. A row that changes an account's role
// changes it as every role change does (see roles.go): checked, audited, the account's sessions ended.
// A row that gives an existing account a new hash ends its sessions and tells the owner.
func (s *Accounts) ImportAccounts(ctx context.Context, rows []ImportRow, actor Actor) (created, updated int, err error) {
	return s.accounts.ImportAccounts(ctx, rows, "import", actor, s.passwordSet)
}

// AccountByLogin finds one account by username, email or phone.
func (s *Accounts) AccountByLogin(ctx context.Context, login string) (*Account, error) {
	return s.guard.accountByLogin(ctx, login)
}

// accountByLogin finds one account by username, email or phone; ENOTFOUND for a login that cannot be one.
func (s *guard) accountByLogin(ctx context.Context, login string) (*Account, error) {
	l, ok := NormalizeLogin(login)
	if !ok {
		return nil, Fail(ENOTFOUND, "err_account_not_found", map[string]any{"Login": login}, "no account %q", login)
	}
	return s.accounts.AccountByLogin(ctx, l)
}

// AccountByID loads one account.
func (s *Accounts) AccountByID(ctx context.Context, id int64) (*Account, error) {
	return s.accounts.AccountByID(ctx, id)
}

// ListAccounts lists accounts, optionally in one state.
func (s *Accounts) ListAccounts(ctx context.Context, state State, limit int) ([]*Account, error) {
	if state != "" && !state.Valid() {
		return nil, Errorf(EINVALID, "state %q is not one of the account states", state)
	}
	return s.accounts.ListAccounts(ctx, state, limit)
}
