package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/cli"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/servetest"
)

const password = "correct horse battery staple"

// serveProfiled is the environment variable that turns this test binary into the server: it
// runs `unlockd serve` with a CPU profile written to the file it names (and the allocations
// beside it), so that the profile holds the server's work and not the load client's.
const serveProfiled = "UNLOCKD_BENCH_SERVE_PROFILE"

func TestMain(m *testing.M) {
	if out := os.Getenv(serveProfiled); out != "" {
		os.Exit(serveWithProfile(out))
	}
	pgtest.Main(m)
}

func serveWithProfile(out string) int {
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	runtime.MemProfileRate = 64 << 10
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, []string{"serve"}, cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	pprof.StopCPUProfile()
	f.Close()
	if h, err := os.Create(strings.TrimSuffix(out, filepath.Ext(out)) + ".allocs" + filepath.Ext(out)); err == nil {
		_ = pprof.Lookup("allocs").WriteTo(h, 0)
		h.Close()
	}
	return code
}

// TestSignInCPU compares the CPU one full sign-in costs (GET /login, POST /login, the redirect to
// /account, each by a new browser) with the CPU of one raw argon2id verification at the same
// parameters. The server is the built binary in its own process; its CPU, and that of every
// PostgreSQL process, is read from /proc before and after. Rates would mislead: the load client
// shares the cores.
//
// UNLOCKD_LOAD=1 runs it (make bench). Settings:
//   - UNLOCKD_BENCH_SIGNINS: how many sign-ins (default 600);
//   - UNLOCKD_BENCH_ROUNDS: in how many rounds (default 6): the machine's neighbours move one
//     round's ratio by a tenth either way, so the totals and the rounds' median are reported;
//   - UNLOCKD_BENCH_ACCOUNTS: over how many accounts (default 1: its account page then lists the
//     50 sessions and devices the earlier sign-ins left, as a long-used account's does);
//   - UNLOCKD_BENCH_PROFILE=FILE: run the server as a profiled copy of this test binary instead,
//     and write its CPU profile to FILE and its allocations to FILE's name with .allocs;
//   - UNLOCKD_BENCH_SERVER_ENV="K=V ...": variables for the server's environment only (GOGC=100
//     undoes serve's garbage-collection setting);
//   - UNLOCKD_BENCH_SERVER_LOG=FILE: keep the server's log;
//   - UNLOCKD_BENCH_BINARY=FILE: measure that build of unlockd instead (an older one, to compare).
func TestSignInCPU(t *testing.T) {
	if os.Getenv("UNLOCKD_LOAD") == "" {
		t.Skip("load test: set UNLOCKD_LOAD=1 (make bench)")
	}
	n, rounds := envInt(t, "UNLOCKD_BENCH_SIGNINS", 600), envInt(t, "UNLOCKD_BENCH_ROUNDS", 6)
	accounts := envInt(t, "UNLOCKD_BENCH_ACCOUNTS", 1)
	profile := os.Getenv("UNLOCKD_BENCH_PROFILE")
	workers := 2 * runtime.NumCPU()

	dbURL := pgtest.NewDatabase(t, pgtest.Migrate)
	postmaster := postmasterPID(t, pgtest.SharedCluster(t).Dir)
	server := startServer(t, dbURL, profile)
	base, srv := server.URL, server.Pid()
	usernames := createAccounts(t, dbURL, accounts)

	// Warm up: connections, templates, the first allocations.
	for i := range 2 * workers {
		if err := signIn(base, usernames[i%len(usernames)]); err != nil {
			t.Fatal(err)
		}
	}

	// Rounds alternate raw hashes and sign-ins, so that both see the same neighbours on a shared
	// machine; each round's ratio is reported, and the totals.
	var hashUse, serverUse usage
	var pgCPU time.Duration
	var hashes, signIns int
	var ratios []float64
	for round := 1; round <= rounds; round++ {
		h := rawHashCPU(t, 30*runtime.NumCPU())
		hashUse, hashes = hashUse.plus(h), hashes+30*runtime.NumCPU()
		s, pg, wall := signInCPU(t, base, usernames, srv, postmaster, n/rounds, workers)
		serverUse, pgCPU, signIns = serverUse.plus(s), pgCPU+pg, signIns+n/rounds
		perHash, perServer, perPG := h.cpu/time.Duration(30*runtime.NumCPU()), s.cpu/time.Duration(n/rounds), pg/time.Duration(n/rounds)
		ratios = append(ratios, float64(perHash)/float64(perServer))
		report(t, "round %d: hash %.1f ms; sign-in server %.1f ms, PostgreSQL %.1f ms (%d sign-ins in %v); ratio hash/server %.2f",
			round, ms(perHash), ms(perServer), ms(perPG), n/rounds, wall.Round(time.Millisecond), float64(perHash)/float64(perServer))
	}
	hash, perServer := hashUse.per(hashes), serverUse.per(signIns)
	perPG := pgCPU / time.Duration(signIns)
	report(t, "raw argon2id m=%d t=%d p=%d: %.1f ms CPU per hash, %.1f ms of it in the kernel, %d page faults (getrusage over %d hashes, %d goroutines)",
		secret.DefaultParams.Memory, secret.DefaultParams.Time, secret.DefaultParams.Threads, ms(hash.cpu), ms(hash.sys), hash.faults, hashes, runtime.NumCPU())
	report(t, "full sign-in (GET /login, POST /login, GET /account; %d at a time; /proc over %d, on %d account(s)): server %.1f ms CPU, %.1f ms of it in the kernel, %d page faults; PostgreSQL %.1f ms",
		workers, signIns, accounts, ms(perServer.cpu), ms(perServer.sys), perServer.faults, ms(perPG))
	slices.Sort(ratios)
	report(t, "ratio hash/server %.2f (the rounds' median %.2f, from %.2f to %.2f); hash/(server+PostgreSQL) %.2f; server beyond the hash %.1f ms",
		float64(hash.cpu)/float64(perServer.cpu), median(ratios), ratios[0], ratios[len(ratios)-1], float64(hash.cpu)/float64(perServer.cpu+perPG), ms(perServer.cpu-hash.cpu))
	if profile != "" {
		// The server's own hashes, beside the raw ones: they share the cores with PostgreSQL and
		// the load client, and cost more than alone.
		server.Stop(t)
		share := profileShare(t, profile, "argon2")
		report(t, "profile: hashing (argon2id and the clearing of its memory) %.1f%% of the server's CPU, %.1f ms a sign-in; all else %.1f ms",
			100*share, share*ms(perServer.cpu), (1-share)*ms(perServer.cpu))
	}
}

// profileShare is the share of a CPU profile's samples whose stack holds a function matching
// focus, as go tool pprof counts them: the flat samples of every node it shows, none left out.
func profileShare(t *testing.T, profile, focus string) float64 {
	t.Helper()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=100000", "-nodefraction=0", "-focus="+focus, profile).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	// "Showing nodes accounting for 17.78s, 89.21% of 19.93s total"
	m := regexp.MustCompile(`accounting for [^,]+, ([0-9.]+)% of`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("go tool pprof said:\n%s", out)
	}
	pct, _ := strconv.ParseFloat(string(m[1]), 64)
	return pct / 100
}

// startServer runs the server over dbURL until the test ends. It is the built unlockd, or with
// profile set a profiled copy of this test binary, or the binary UNLOCKD_BENCH_BINARY names
// (another build, to compare).
func startServer(t *testing.T, dbURL, profile string) *servetest.Process {
	t.Helper()
	var argv []string
	switch other := os.Getenv("UNLOCKD_BENCH_BINARY"); {
	case profile != "":
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		argv = []string{self, "-test.run=^$"}
	case other != "":
		argv = []string{other, "serve"}
	default:
		bin, err := servetest.Build(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		argv = []string{bin, "serve"}
	}
	env := append(os.Environ(), "UNLOCKD_DATABASE_URL="+dbURL, "UNLOCKD_SECRET_KEY="+strings.Repeat("k", 32))
	// Settings for the server alone (GOGC=..., GODEBUG=...), to compare runtime settings.
	env = append(env, strings.Fields(os.Getenv("UNLOCKD_BENCH_SERVER_ENV"))...)
	if profile != "" {
		abs, err := filepath.Abs(profile)
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, serveProfiled+"="+abs)
	}
	p := servetest.Start(t, argv, env)
	if logPath := os.Getenv("UNLOCKD_BENCH_SERVER_LOG"); logPath != "" {
		t.Cleanup(func() {
			p.Stop(t)
			if err := os.WriteFile(logPath, []byte(p.Out.String()), 0o644); err != nil {
				t.Error(err)
			}
		})
	}
	return p
}

// signInCPU runs n sign-ins from workers goroutines and returns the CPU the server process and the
// PostgreSQL cluster spent meanwhile, and the wall-clock time.
func signInCPU(t *testing.T, base string, usernames []string, server, postmaster, n, workers int) (srv usage, pg, wall time.Duration) {
	t.Helper()
	var failed atomic.Int64
	var firstErr atomic.Value
	serverBefore, pgBefore := processUsage(t, server), clusterCPU(t, postmaster)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := signIn(base, usernames[int(i)%len(usernames)]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	wall = time.Since(start)
	srv, pg = processUsage(t, server).minus(serverBefore), clusterCPU(t, postmaster)-pgBefore
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d sign-ins failed; the first: %v", f, n, firstErr.Load())
	}
	return srv, pg, wall
}

// median is the middle of sorted values, or the mean of the middle two.
func median(sorted []float64) float64 {
	m := len(sorted) / 2
	if len(sorted)%2 == 0 {
		return (sorted[m-1] + sorted[m]) / 2
	}
	return sorted[m]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	fmt.Println("LOAD:", msg)
}

// signIn is one new browser signing in: the form, the post, and the account page it lands on.
func signIn(base, username string) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := c.Get(base + "/login")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /login: %s", res.Status)
	}
	res, err = c.PostForm(base+"/login", url.Values{"username": {username}, "password": {password}})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/account" {
		return fmt.Errorf("POST /login ended at %s with %s", res.Request.URL.Path, res.Status)
	}
	return nil
}

// createAccounts makes n accounts with the same password: alice alone, or alice1 to alice<n>.
func createAccounts(t *testing.T, dbURL string, n int) []string {
	t.Helper()
	hash, err := secret.HashPassword(password, secret.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if n == 1 {
		if _, err := conn.Exec(context.Background(), `INSERT INTO accounts (username, email, password_hash)
			VALUES ('alice', 'alice@example.com', $1)`, hash); err != nil {
			t.Fatal(err)
		}
		return []string{"alice"}
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO accounts (username, email, password_hash)
		SELECT 'alice' || g, 'alice' || g || '@example.com', $1 FROM generate_series(1, $2) g`, hash, n); err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("alice%d", i+1)
	}
	return names
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q", name, v)
	}
	return n
}

// clkTck is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux.
const clkTck = 100

// statTimes returns a process's parent, its own CPU (utime+stime) and that of its reaped
// children (cutime+cstime), from /proc/PID/stat.
func statTimes(pid int) (ppid int, self, children time.Duration, err error) {
	ppid, u, children, err := statUsage(pid)
	return ppid, u.cpu, children, err
}

// usage is what a process spent: CPU, the part of it in the kernel, and the page faults it took
// (minor ones: a page the kernel hands over zeroed, as a heap grown back after it was returned).
type usage struct {
	cpu, sys time.Duration
	faults   int64
}

func (u usage) minus(v usage) usage { return usage{u.cpu - v.cpu, u.sys - v.sys, u.faults - v.faults} }
func (u usage) plus(v usage) usage  { return usage{u.cpu + v.cpu, u.sys + v.sys, u.faults + v.faults} }

// per is u spread over n operations.
func (u usage) per(n int) usage {
	return usage{u.cpu / time.Duration(n), u.sys / time.Duration(n), u.faults / int64(n)}
}

// statUsage reads /proc/PID/stat: the parent, the process's own usage and its reaped children's CPU.
func statUsage(pid int) (ppid int, self usage, children time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, usage{}, 0, err
	}
	// The command name is in parentheses and may hold spaces: fields start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	tick := time.Second / clkTck
	// Fields after the name, from 0: state ppid ... minflt(7) ... utime(11) stime(12) cutime(13)
	// cstime(14).
	self = usage{cpu: time.Duration(num(11)+num(12)) * tick, sys: time.Duration(num(12)) * tick, faults: num(7)}
	return int(num(1)), self, time.Duration(num(13)+num(14)) * tick, nil
}

func processCPU(t *testing.T, pid int) time.Duration { return processUsage(t, pid).cpu }

func processUsage(t *testing.T, pid int) usage {
	t.Helper()
	_, self, _, err := statUsage(pid)
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// clusterCPU is the CPU of a PostgreSQL cluster: the postmaster, its reaped children (backends
// that ended), and its living children.
func clusterCPU(t *testing.T, postmaster int) time.Duration {
	t.Helper()
	_, self, reaped, err := statTimes(postmaster)
	if err != nil {
		t.Fatal(err)
	}
	total := self + reaped
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		if ppid, self, _, err := statTimes(pid); err == nil && ppid == postmaster {
			total += self
		}
	}
	return total
}

func postmasterPID(t *testing.T, clusterDir string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(clusterDir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan()
	pid, err := strconv.Atoi(strings.TrimSpace(s.Text()))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// rawHashCPU is what one argon2id verification at secret.DefaultParams costs this process
// (getrusage), n verifications spread over one goroutine per core, as the server's hasher runs them.
func rawHashCPU(t *testing.T, n int) usage {
	t.Helper()
	enc, err := secret.HashPassword(password, secret.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before := rusage(t)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if ok, _, err := secret.VerifyPassword(password, enc, secret.DefaultParams); !ok || err != nil {
					t.Error("raw verify failed", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return rusage(t).minus(before)
}

func rusage(t *testing.T) usage {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), sys: time.Duration(ru.Stime.Nano()), faults: ru.Minflt}
}
