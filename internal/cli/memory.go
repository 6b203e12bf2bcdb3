package cli

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/unlockd/unlockd/internal/secret"
)

// heapBase is the memory a serving process needs beside its password hashes, with room to spare:
// pages, sessions, connections and the database pool hold a few tens of MB.
const heapBase = 128 << 20

// tuneGC sets the garbage collector for a serving process, unless GOGC or GOMEMLIMIT set it.
//
// Each argon2id hash allocates Params.Memory (19 MiB) and drops it when done, while the rest of
// the heap is a few MB: with the default GOGC=100 the collector ran about once per hash, and cost
// a sign-in several milliseconds of CPU (the collection, its assists, and the scavenger handing
// the pages back to the kernel only for the next hash to fault them in again). Instead the
// collector runs only when the heap nears a limit sized from the hasher's bound: the hashes that
// may run at once, four times over, and heapBase. With 2 workers that is 280 MiB, and about a
// dozen hashes pass between collections. The limit is soft: a heap that outgrows it is collected
// more often, never refused.
func tuneGC(h *secret.Hasher, log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	limit := memoryLimit(h)
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(-1)
	log.Info("garbage collection at the memory limit", "limit_mib", limit>>20, "hash_mib", h.MemoryBound()>>20)
}

// memoryLimit is the soft memory limit of a serving process whose password hashes run in h.
func memoryLimit(h *secret.Hasher) int64 { return heapBase + 4*h.MemoryBound() }
