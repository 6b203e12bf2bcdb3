package directory_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/directory"
	"github.com/unlockd/unlockd/internal/directory/slapdtest"
)

// TestLoadSyncOfAHundredThousandPeople measures a full sync of 100,000 people from a real slapd,
// each person's state derived as it comes (make bench; UNLOCKD_LOAD=1), and an incremental one
// after ten lockouts. Memory stays bounded by a page, whatever the directory's size: the figure
// printed is the most the heap held during the sync.
func TestLoadSyncOfAHundredThousandPeople(t *testing.T) {
	if os.Getenv("UNLOCKD_LOAD") == "" {
		t.Skip("load test: set UNLOCKD_LOAD=1 (make bench)")
	}
	const people = 100_000
	start := time.Now()
	srv := slapdtest.NewPreloaded(t, slapdtest.DefaultPolicy(), people)
	fmt.Printf("LOAD: slapd with %d people loaded and started in %v\n", people, time.Since(start).Round(time.Millisecond))
	d := newDirectory(t, srv, func(c *directory.Config) { c.OperationTimeout = time.Minute })
	ctx := context.Background()
	policy, err := d.Policy(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before, now runtime.MemStats
	runtime.ReadMemStats(&before)
	var peakHeap uint64
	states := map[directory.State]int{}
	count := 0
	start = time.Now()
	mark, err := d.People(ctx, "", func(p directory.Person) error {
		count++
		states[directory.Derive(d.Kind(), p.Lock, policy, start).State]++
		if count%5000 == 0 {
			runtime.ReadMemStats(&now)
			peakHeap = max(peakHeap, now.HeapInuse)
		}
		return nil
	})
	took := time.Since(start)
	runtime.ReadMemStats(&now)
	if err != nil || count != people {
		t.Fatalf("full sync: %d people, %v", count, err)
	}
	if states[directory.StateLocked]+states[directory.StateLockedTemporarily] != 0 || states[directory.StateActive] != people {
		// Every 50th was locked an hour ago, and the default lock lasts 5 minutes: all have lapsed.
		t.Fatalf("states %v, want all %d active (their locks lapsed)", states, people)
	}
	fmt.Printf("LOAD: full sync of %d people in %v (%.0f people/s); heap in use at most %.1f MiB (%.1f MiB before), %.0f MiB allocated in all\n",
		people, took.Round(time.Millisecond), float64(people)/took.Seconds(),
		float64(peakHeap)/(1<<20), float64(before.HeapInuse)/(1<<20), float64(now.TotalAlloc-before.TotalAlloc)/(1<<20))

	time.Sleep(1100 * time.Millisecond) // modifyTimestamp has whole seconds
	for i := 1; i <= 10; i++ {
		srv.MustFailBinds(t, slapdtest.PersonDN(slapdtest.Preloaded(i)), 3)
	}
	start = time.Now()
	changed := 0
	if _, err := d.People(ctx, mark, func(directory.Person) error { changed++; return nil }); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LOAD: incremental sync after 10 lockouts among %d people: %d read in %v\n",
		people, changed, time.Since(start).Round(time.Millisecond))
	if changed < 10 {
		t.Fatalf("incremental sync read %d people, want at least the 10 locked", changed)
	}
}
