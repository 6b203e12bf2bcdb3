package server_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/secret"
)

// ksStatistic is the two-sample Kolmogorov-Smirnov statistic: the largest distance between the
// empirical distribution functions of a and b (0: alike, 1: apart).
func ksStatistic(a, b []time.Duration) float64 {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// ksCritical is the statistic that two samples of sizes n and m drawn from one distribution
// exceed with probability alpha (the asymptotic formula).
func ksCritical(n, m int, alpha float64) float64 {
	return math.Sqrt(-math.Log(alpha/2)/2) * math.Sqrt(float64(n+m)/float64(n*m))
}

func TestKSStatistic(t *testing.T) {
	d := func(ms ...int) []time.Duration {
		var s []time.Duration
		for _, m := range ms {
			s = append(s, time.Duration(m)*time.Millisecond)
		}
		return s
	}
	tests := []struct {
		name string
		a, b []time.Duration
		want float64
	}{
		{"the same sample", d(1, 2, 3, 4), d(4, 3, 2, 1), 0},
		{"apart", d(1, 2, 3), d(10, 11, 12), 1},
		{"half apart", d(1, 2, 3, 4), d(3, 4, 5, 6), 0.5},
		{"ties across", d(1, 1, 2, 2), d(1, 2, 2, 2), 0.25},
		{"sizes differ", d(1, 2), d(1, 2, 3, 4), 0.5},
	}
	for _, tt := range tests {
		if got := ksStatistic(tt.a, tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: D = %v, want %v", tt.name, got, tt.want)
		}
	}
	if c := ksCritical(200, 200, 0.001); math.Abs(c-0.1946) > 0.001 {
		t.Errorf("critical D for 200 and 200 at 0.001 = %v, want 0.1946", c)
	}
}

// signInClass is a kind of failed sign-in an outsider can try.
type signInClass struct{ name, user, password string }

// timeSignIns posts each class's sign-in (classes gives them afresh each round) rounds times from probers goroutines, each round in a new
// random order (so that no class always follows another), and returns each class's times as the
// client sees them. Every answer must be the same page: status and body, but for the username
// given back.
func (h *harness) timeSignIns(classes func() []signInClass, rounds, probers int) map[string][]time.Duration {
	h.t.Helper()
	var mu sync.Mutex
	times := map[string][]time.Duration{}
	var page atomic.Value
	var wg sync.WaitGroup
	for p := range probers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: time.Minute}
			for r := p; r < rounds; r += probers {
				round := classes()
				for _, i := range rand.Perm(len(round)) {
					cl := round[i]
					// Each prober is a client of its own, as each flooder is: a client's attempts
					// are reserved one at a time, and probers sharing one would wait for each other.
					took, status, body := h.timedSignIn(c, cl.user, cl.password, fmt.Sprintf("192.0.2.%d", p+1))
					body = typedUsername.ReplaceAllString(body, `${1}"`)
					if first := page.CompareAndSwap(nil, body); !first && page.Load() != body || status != http.StatusOK {
						h.t.Errorf("%s: answered %d with a page of its own", cl.name, status)
						return
					}
					mu.Lock()
					times[cl.name] = append(times[cl.name], took)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return times
}

// timedSignIn posts one sign-in from client (a trusted proxy's X-Forwarded-For) and times it.
func (h *harness) timedSignIn(c *http.Client, user, password, client string) (time.Duration, int, string) {
	form := url.Values{"username": {user}, "password": {password}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", client)
	start := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return time.Since(start), 0, err.Error()
	}
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(res))
	return time.Since(start), res.StatusCode, b.String()
}

func readAll(res *http.Response) string {
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// flood posts wrong passwords from workers goroutines, each from a new address, over accounts,
// until the returned function is called; it returns how many were answered 503.
func (h *harness) flood(workers int, accounts []string) (stop func() (sent, busy int64)) {
	ctx, cancel := context.WithCancel(context.Background())
	var n, busyN atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: time.Minute}
			for ctx.Err() == nil {
				i := n.Add(1)
				ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
				_, status, _ := h.timedSignIn(c, accounts[int(i)%len(accounts)], fmt.Sprintf("flood guess %d", i), ip)
				if status == http.StatusServiceUnavailable {
					busyN.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64) {
		cancel()
		wg.Wait()
		return n.Load(), busyN.Load()
	}
}

// Wrong password, unknown user and a locked account with its right password cannot be told apart
// by their time (SECURITY.md 8), although only the wrong password is hashed: the others wait as
// long as a recent check took. Two-sample Kolmogorov-Smirnov tests over 200 sign-ins of each,
// interleaved in random order, on an idle server and on one whose hashing is saturated by a flood
// of wrong passwords. Refusals answered at once, unpadded, are apart at D near 1.
func TestRefusalsTakeTheTimeOfAPasswordCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("times a few thousand sign-ins")
	}
	// A hash of about 2 ms (12 ms under the race detector): checks weigh in a refusal's time as
	// argon2id's real parameters do, and the test takes seconds. make bench runs it with those.
	params := secret.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	// At 0.0001 (D above 0.215 for 200 and 200): a busy shared machine moves the database's share
	// of a sign-in's time from one moment to the next, and four comparisons run; an unpadded
	// refusal is apart at D 0.5 and more on an idle server.
	for _, r := range compareRefusalTimes(t, params, 200, 0.0001, false) {
		if r.d > r.critical {
			t.Errorf("%s: %s can be told from a wrong password by its time: D = %.3f > %.3f", r.phase, r.class, r.d, r.critical)
		}
	}
}

// TestLoadRefusalTiming is the same comparison with argon2id's real parameters, for make bench,
// also just after floods stop. It reports, without holding the refusals to it, each kind alone just
// after a flood: refusals with no new check among them, which check dummies for real until the
// flood's checks have left the recent ones, and then follow the dummies. Those lack part of a
// check's database work, and this comparison comes out at the edge of the critical D.
func TestLoadRefusalTiming(t *testing.T) {
	needLoad(t)
	for _, r := range compareRefusalTimes(t, secret.DefaultParams, 300, 0.001, true) {
		report(t, "refusal timing, %s: wrong password (median %v) against %s (median %v): KS D = %.3f (critical at 0.001: %.3f)",
			r.phase, r.wrongMedian.Round(time.Millisecond), r.class, r.median.Round(time.Millisecond), r.d, r.critical)
		if r.d > r.critical && r.phase != aloneAfterFlood {
			t.Errorf("%s: %s can be told from a wrong password by its time", r.phase, r.class)
		}
	}
}

// ksResult compares one refusal class's times with a wrong password's.
type ksResult struct {
	phase, class        string
	d, critical         float64
	median, wrongMedian time.Duration
}

// The phases timed just after floods stop: the three kinds in random order, and each kind alone.
const (
	afterFlood      = "just after a flood"
	aloneAfterFlood = "each alone just after a flood"
)

// compareRefusalTimes times rounds sign-ins of each class, idle and with hashing saturated (and,
// with after, half as many just after floods stop, mixed and each class alone), and compares the
// times of each refusal class with those of a wrong password, with the critical D at alpha.
func compareRefusalTimes(t *testing.T, params secret.Params, rounds int, alpha float64, after bool) []ksResult {
	h := newHarness(t, withHasher(secret.NewHasher(params, 2, 64, 30*time.Second)),
		withEnv("UNLOCKD_TRUSTED_PROXIES", "127.0.0.1/32"))
	h.setPolicy("lockout.threshold=1000", "lockout.ignore_repeated_password=false")
	h.addAccount("alice")
	frozen := h.addAccount("frank")
	if _, err := h.accounts.Staff.Freeze(context.Background(), frozen.Username, "review", "", nil, testActor); err != nil {
		t.Fatal(err)
	}
	var loadAccounts []string
	for i := range 4 {
		loadAccounts = append(loadAccounts, h.addAccount(fmt.Sprintf("load%d", i)).Username)
	}
	var guess atomic.Int64
	classes := func() []signInClass {
		return []signInClass{
			{"wrong password", "alice", fmt.Sprintf("wrong guess %d", guess.Add(1))},
			{"unknown user", "nobody", "wrong guess"},
			{"locked, right password", "frank", goodPassword},
		}
	}
	// Warm up: connections, templates, the first check times. A new server's first checks are
	// slower than the later ones, and refusals are padded to them while they are among the recent
	// checks: warm up until they have left.
	h.timeSignIns(classes, secret.DefaultCheckTimesSize+10, 1)

	type timingPhase struct {
		name              string
		probers, flooders int
	}
	phases := []timingPhase{{"idle", 1, 0}, {"hashing saturated", 3, 4}}
	if after {
		phases = append(phases, timingPhase{afterFlood, 1, 4}, timingPhase{aloneAfterFlood, 1, 4})
	}
	var results []ksResult
	for _, phase := range phases {
		var times map[string][]time.Duration
		switch {
		case phase.name == afterFlood || phase.name == aloneAfterFlood:
			// Flood for a while, stop, time a few rounds at once, as someone who starts and stops
			// the flood would: all three kinds after each flood, or one kind after each, by turns.
			times = map[string][]time.Duration{}
			const cycle = 25
			cycles, kinds := max(1, rounds/2/cycle), len(classes())
			if phase.name == aloneAfterFlood {
				cycles *= kinds
			}
			for c := range cycles {
				probe := classes
				if phase.name == aloneAfterFlood {
					probe = func() []signInClass { return classes()[c%kinds : c%kinds+1] }
				}
				stop := h.flood(phase.flooders, loadAccounts)
				time.Sleep(1500 * time.Millisecond)
				stop()
				for class, took := range h.timeSignIns(probe, cycle, phase.probers) {
					times[class] = append(times[class], took...)
				}
			}
		case phase.flooders > 0:
			stop := h.flood(phase.flooders, loadAccounts)
			times = h.timeSignIns(classes, rounds, phase.probers)
			sent, busy := stop()
			t.Logf("%s: %d flooding sign-ins, %d answered 503", phase.name, sent, busy)
		default:
			times = h.timeSignIns(classes, rounds, phase.probers)
		}
		wrong := times["wrong password"]
		for _, other := range []string{"unknown user", "locked, right password"} {
			r := ksResult{phase: phase.name, class: other, d: ksStatistic(wrong, times[other]),
				critical: ksCritical(len(wrong), len(times[other]), alpha), median: median(times[other]), wrongMedian: median(wrong)}
			t.Logf("%s: wrong password (median %v) against %s (median %v): D = %.3f, critical %.3f",
				r.phase, r.wrongMedian, r.class, r.median, r.d, r.critical)
			results = append(results, r)
		}
	}
	return results
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2]
}
