package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus series unlockd exports. It implements account.Metrics.
type Metrics struct {
	registry  *prometheus.Registry
	signIns   *prometheus.CounterVec
	locks     *prometheus.CounterVec
	unlocks   *prometheus.CounterVec
	throttled *prometheus.CounterVec
	messages  *prometheus.CounterVec
	hashWait  prometheus.Histogram
	// priorityWait is the wait of the known devices' lane, apart: a flood fills the other.
	priorityWait prometheus.Histogram
	rejections   *prometheus.CounterVec

	unavailableAnswers *prometheus.CounterVec
	dbUnavailable      *prometheus.CounterVec
	dbServerChanges    *prometheus.CounterVec
	directoryOps       *prometheus.CounterVec
}

// NewMetrics registers unlockd's series (and the Go runtime's) in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_sign_ins_total",
			Help: "Sign-in attempts by result (success, failure, unknown, locked, repeated, throttled)."}, []string{"result"}),
		locks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_locks_total",
			Help: "Accounts locked, by cause (lock_temporarily, lock_hard, freeze)."}, []string{"cause"}),
		unlocks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_unlocks_total",
			Help: "Accounts unlocked, by method (administrator, bulk, self-service methods)."}, []string{"method"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_throttled_total",
			Help: "Requests refused by a per-client throttle, by where."}, []string{"where"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_messages_total",
			Help: "Outgoing messages by channel and delivery result (sent, retry, dead)."}, []string{"channel", "result"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unlockd_hash_queue_wait_seconds",
			Help:    "How long password hashing (and the refusals that take a check's turn instead) waited for a free worker, in the ordinary lane.",
			Buckets: waitBuckets}),
		priorityWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unlockd_hash_priority_wait_seconds",
			Help:    "How long password hashing waited for a free worker, in the priority lane of known devices.",
			Buckets: waitBuckets}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_rejections_total",
			Help: "Sign-ins refused without checking a password, by reason (invalid, unknown_user, no_password, " +
				"repeated_password, locked, throttled) and cost (padded: waited a recent check's time without hashing; " +
				"dummy_hash: no recent check time was known; busy: its turn at the hasher found it saturated, answered 503; none: answered at once)."}, []string{"reason", "cost"}),
		unavailableAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_unavailable_answers_total",
			Help: "Requests answered 503 with Retry-After because the database (or the directory) was unavailable, by where (page, api)."}, []string{"where"}),
		dbUnavailable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_database_unavailable_total",
			Help: "Times a pool found the database unavailable, by pool (primary, read) and kind (connect: no host accepted a connection; statement: a statement cut off or refused)."}, []string{"pool", "kind"}),
		dbServerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_database_server_changes_total",
			Help: "New connections of a pool that reached another database server than the one before: a failover, by pool."}, []string{"pool"}),
		directoryOps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unlockd_directory_operations_total",
			Help: "Requests to the directory at request time, by operation (person, password_check, unlock, set_password) and result (ok, not_found, wrong_password, refused, unavailable, error)."}, []string{"op", "result"}),
	}
	m.registry.MustRegister(m.signIns, m.locks, m.unlocks, m.throttled, m.messages, m.hashWait, m.priorityWait, m.rejections,
		m.unavailableAnswers, m.dbUnavailable, m.dbServerChanges, m.directoryOps,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) SignIn(result string)   { m.signIns.WithLabelValues(result).Inc() }
func (m *Metrics) Lock(cause string)      { m.locks.WithLabelValues(cause).Inc() }
func (m *Metrics) Unlock(method string)   { m.unlocks.WithLabelValues(method).Inc() }
func (m *Metrics) Throttled(where string) { m.throttled.WithLabelValues(where).Inc() }
func (m *Metrics) Rejection(reason, cost string) {
	m.rejections.WithLabelValues(reason, cost).Inc()
}

var waitBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Message records one delivery attempt's result; give it to the delivery worker.
func (m *Metrics) Message(channel, result string) { m.messages.WithLabelValues(channel, result).Inc() }

// HashWait records a hashing queue wait in its lane; give it to the hasher's wait observer.
func (m *Metrics) HashWait(d time.Duration, priority bool) {
	if priority {
		m.priorityWait.Observe(d.Seconds())
		return
	}
	m.hashWait.Observe(d.Seconds())
}

// UnavailableAnswer records a request answered 503 because a dependency was unavailable; where
// is "page" or "api".
func (m *Metrics) UnavailableAnswer(where string) { m.unavailableAnswers.WithLabelValues(where).Inc() }

// DatabaseUnavailable and DatabaseServerChanged make Metrics the pools' postgres.PoolEvents.
func (m *Metrics) DatabaseUnavailable(pool, kind string) {
	m.dbUnavailable.WithLabelValues(pool, kind).Inc()
}

func (m *Metrics) DatabaseServerChanged(pool string) { m.dbServerChanges.WithLabelValues(pool).Inc() }

// DirectoryOperation counts one request to the directory and its result.
func (m *Metrics) DirectoryOperation(op, result string) {
	m.directoryOps.WithLabelValues(op, result).Inc()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
