package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolEvents is told what a pool sees of the database: each failure that made the database
// unavailable (kind "connect" for a connection that no host accepted, "statement" for a statement
// cut off or refused by a server going away), and each change of server, which is what a failover
// looks like from here. Implementations must be quick and safe for concurrent use.
type PoolEvents interface {
	DatabaseUnavailable(pool, kind string)
	DatabaseServerChanged(pool string)
}

// Watch tells events what the pool sees from now on; name labels the pool ("primary", "read").
// log, when not nil, gets one line per change of server.
func (db *DB) Watch(name string, events PoolEvents, log *slog.Logger) {
	db.servers.name.Store(&name)
	db.servers.events.Store(&events)
	if log != nil {
		db.servers.log.Store(log)
	}
}

// serverWatch follows the server that new connections reach, and counts unavailability. It is the
// pool's tracer (pgx.QueryTracer, pgx.ConnectTracer) and its AfterConnect hook.
type serverWatch struct {
	pool atomic.Pointer[pgxpool.Pool] // set once the pool exists
	// resetOnReadOnly drops every connection of a primary's pool when a write meets a standby.
	resetOnReadOnly bool
	name            atomic.Pointer[string]
	events          atomic.Pointer[PoolEvents]
	log             atomic.Pointer[slog.Logger]

	mu     sync.Mutex
	server string // the identity of the server last connected to; "" before the first
	reset  atomic.Bool
	// lastUnavailable is when a statement or connection last found the database unavailable
	// (Unix nanoseconds; 0 never).
	lastUnavailable atomic.Int64
}

// suspicionWindow is how long after the database was found unavailable every pooled connection is
// pinged before it is handed out: the pool's other connections went to the same server, and are
// likely dead too.
const suspicionWindow = 10 * time.Second

// A server is known by the cluster's system identifier (a promoted standby shares its primary's,
// so it alone is not enough) and the address it answers on, as the server sees it and as we
// dialled it (a name that moved to another machine). pg_control_system may be refused to an
// unprivileged role: then the addresses alone identify the server.
const serverIdentitySQL = `SELECT coalesce(host(inet_server_addr()), '') || ':' || coalesce(inet_server_port()::text, '')`

const systemIdentifierSQL = `SELECT system_identifier::text FROM pg_control_system()`

// afterConnect records which server a new connection reached, and reports a change of server. It
// never refuses the connection: an identity it cannot read is only less precise.
func (w *serverWatch) afterConnect(ctx context.Context, conn *pgx.Conn) error {
	var addr, system string
	_ = conn.QueryRow(ctx, serverIdentitySQL).Scan(&addr)
	if err := conn.QueryRow(ctx, systemIdentifierSQL).Scan(&system); err != nil {
		system = "?"
	}
	dialled := ""
	if nc := conn.PgConn().Conn(); nc != nil && nc.RemoteAddr() != nil {
		dialled = nc.RemoteAddr().String()
	}
	w.connectedTo(fmt.Sprintf("system %s at %s via %s", system, addr, dialled))
	return nil
}

// connectedTo notes the server of a new connection; a server other than the previous one is a
// change (a failover, or a name that now points elsewhere).
func (w *serverWatch) connectedTo(server string) {
	w.mu.Lock()
	previous := w.server
	w.server = server
	w.mu.Unlock()
	if previous == "" || previous == server {
		return
	}
	if log := w.log.Load(); log != nil {
		log.Warn("database server changed", "pool", w.poolName(), "from", previous, "to", server)
	}
	if ev := w.events.Load(); ev != nil {
		(*ev).DatabaseServerChanged(w.poolName())
	}
}

func (w *serverWatch) poolName() string {
	if n := w.name.Load(); n != nil {
		return *n
	}
	return "primary"
}

func (w *serverWatch) unavailable(kind string) {
	w.lastUnavailable.Store(time.Now().UnixNano())
	if ev := w.events.Load(); ev != nil {
		(*ev).DatabaseUnavailable(w.poolName(), kind)
	}
}

// shouldPing is the pool's ShouldPing: a connection idle for more than a second, as pgx does by
// default, and every connection while the database was lately found unavailable.
func (w *serverWatch) shouldPing(_ context.Context, p pgxpool.ShouldPingParams) bool {
	if p.IdleDuration > time.Second {
		return true
	}
	last := w.lastUnavailable.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < suspicionWindow
}

// TraceQueryStart is part of pgx.QueryTracer.
func (w *serverWatch) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd counts statements that found the database unavailable. A write refused as
// read-only means the pool's connections reach a server that is no longer the primary: they are
// all dropped, so that new ones look for the primary again.
func (w *serverWatch) TraceQueryEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if !isUnavailable(data.Err) {
		return
	}
	w.unavailable("statement")
	pool := w.pool.Load()
	if w.resetOnReadOnly && isPgCode(data.Err, readOnlyTransaction) && pool != nil && w.reset.CompareAndSwap(false, true) {
		go func() {
			pool.Reset()
			w.reset.Store(false)
		}()
	}
}

// TraceConnectStart is part of pgx.ConnectTracer.
func (w *serverWatch) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return ctx
}

// TraceConnectEnd counts connections that no host accepted.
func (w *serverWatch) TraceConnectEnd(_ context.Context, data pgx.TraceConnectEndData) {
	if data.Err != nil && isUnavailable(data.Err) {
		w.unavailable("connect")
	}
}
