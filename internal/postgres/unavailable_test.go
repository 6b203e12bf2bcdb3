package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func pgError(code string) error { return fmt.Errorf("statement: %w", &pgconn.PgError{Code: code}) }

// What the server answers 503 for: the database's state, never the statement's own fault.
func TestUnavailableMeansTheDatabaseNotTheStatement(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"the client went away", fmt.Errorf("query: %w", context.Canceled), false},
		{"no host accepted the connection", &pgconn.ConnectError{}, true},
		{"connection failure", pgError("08006"), true},
		{"administrator shutdown (immediate stop, failover)", pgError("57P01"), true},
		{"crash of another server process", pgError("57P02"), true},
		{"the server is starting or in recovery", pgError("57P03"), true},
		{"too many connections", pgError("53300"), true},
		{"a write on a standby: read-only transaction", pgError("25006"), true},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"connection cut mid-answer", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"timed out", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"unique violation", pgError("23505"), false},
		{"serialization failure (retried, not unavailable)", pgError("40001"), false},
		{"undefined table", pgError("42P01"), false},
		{"no rows", pgx.ErrNoRows, false},
		{"anything else", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isUnavailable(tc.err); got != tc.want {
				t.Fatalf("isUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// A transaction is tried again only when it surely did not commit.
func TestTransactionsAreRetriedOnlyWhenTheyCannotHaveCommitted(t *testing.T) {
	cut := fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF)
	for _, tc := range []struct {
		name       string
		err        error
		commitSent bool
		want       bool
	}{
		{"success", nil, true, false},
		{"serialization failure in the transaction", pgError("40001"), false, true},
		{"serialization failure refusing the commit", pgError("40001"), true, true},
		{"deadlock", pgError("40P01"), false, true},
		{"a dead pooled connection before the commit", cut, false, true},
		{"the server shut down before the commit", pgError("57P01"), false, true},
		{"no primary to connect to", &pgconn.ConnectError{}, false, true},
		{"the connection cut after COMMIT was sent", cut, true, false},
		{"the server shut down after COMMIT was sent", pgError("57P01"), true, false},
		{"a timeout has already cost its wait", fmt.Errorf("begin: %w", context.DeadlineExceeded), false, false},
		{"a statement's own fault", pgError("23505"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mayRetry(tc.err, tc.commitSent); got != tc.want {
				t.Fatalf("mayRetry(%v, commitSent=%v) = %v, want %v", tc.err, tc.commitSent, got, tc.want)
			}
		})
	}
}
