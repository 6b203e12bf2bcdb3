package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unlockd/unlockd/internal/account"
)

// unavailable wraps failures to reach the database as account.EUNAVAILABLE, so the server answers
// 503 and nothing is half done; other errors are wrapped with the operation's name.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, account.Errorf(account.EUNAVAILABLE, "The database is unavailable."), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable says whether err means that no writable database answered: the server is down,
// restarting, shutting down, out of connections, or (after a failover) no longer the primary.
// Such an error is the database's state, not the request's fault.
func isUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	// An error the domain already named is not the database's, though it may hold a network
	// error: a directory that cannot be reached inside a unit of work is the directory's outage.
	var named *account.Error
	if errors.As(err, &named) && named.Code != account.EUNAVAILABLE {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// No host of the connection string accepted us (refused, timed out, or only read-only
		// servers when target_session_attrs=read-write asks for a primary).
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return unavailableState(pgErr.Code)
	}
	// Acquiring from a pool whose server is gone, a connection cut mid-statement, or a dial that
	// times out.
	return pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		isNetError(err)
}

// unavailableState says whether a SQLSTATE is the server's unavailability rather than the
// statement's fault.
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection exception
		return true
	case strings.HasPrefix(code, "57P"): // shutdown (admin, crash), cannot connect now, database dropped
		return true
	case strings.HasPrefix(code, "53"): // insufficient resources: too many connections, disk full
		return true
	case code == readOnlyTransaction:
		// A write reached a server that is (now) a standby: the primary moved.
		return true
	}
	return false
}

// readOnlyTransaction is SQLSTATE 25006, "cannot execute ... in a read-only transaction".
const readOnlyTransaction = "25006"

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// isPgCode says whether err is the server's error with SQLSTATE code.
func isPgCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
