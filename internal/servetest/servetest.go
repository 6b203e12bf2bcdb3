// Package servetest runs `unlockd serve` as a process of its own for a test: on a free port of
// 127.0.0.1, ready once /readyz answers 200, stopped with SIGTERM when the test ends. The browser
// tests, the failover test and the benchmarks start their servers with it.
package servetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/freeport"
)

// How long a server may take to answer /readyz, and to stop after SIGTERM.
const (
	readyWithin = 60 * time.Second
	stopWithin  = 25 * time.Second
)

// Process is a running server.
type Process struct {
	URL string      // http://127.0.0.1:port
	Out *SyncBuffer // what it wrote on stdout and stderr

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stop    sync.Once
}

// Start runs argv (the program, then its arguments, such as unlockd and "serve") with env, and
// UNLOCKD_LISTEN and UNLOCKD_BASE_URL set to a free port, and waits until it is ready. A port
// another process took meanwhile is tried again on another. The server is stopped when the test
// ends (Stop); a test that fails sees the end of what it wrote.
func Start(t testing.TB, argv, env []string) *Process {
	t.Helper()
	var err error
	for range 3 {
		var p *Process
		if p, err = start(argv, env); err == nil {
			t.Cleanup(func() { p.Stop(t) })
			return p
		}
		if p == nil || !strings.Contains(p.Out.String(), "address already in use") {
			break
		}
	}
	t.Fatal(err)
	return nil
}

func start(argv, env []string) (*Process, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	p := &Process{URL: "http://127.0.0.1:" + strconv.Itoa(port), Out: &SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(append([]string{}, env...), "UNLOCKD_LISTEN=127.0.0.1:"+strconv.Itoa(port), "UNLOCKD_BASE_URL="+p.URL)
	p.cmd.Stdout, p.cmd.Stderr = p.Out, p.Out
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(readyWithin); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.exited:
			return p, fmt.Errorf("%s exited before it was ready (%v):\n%s", argv[0], p.waitErr, p.Out)
		default:
		}
		if res, err := client.Get(p.URL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.exited
			return p, fmt.Errorf("%s: /readyz did not answer 200 within %v:\n%s", argv[0], readyWithin, p.Out)
		}
	}
}

// Pid is the server's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop ends the server with SIGTERM and waits for it, once: it fails the test when the server does
// not stop in time or exits with an error. A profiled server writes its profile then.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.stop.Do(func() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("stop the server: %v", err)
		}
		select {
		case <-p.exited:
			if p.waitErr != nil {
				t.Errorf("the server did not exit cleanly: %v", p.waitErr)
			}
		case <-time.After(stopWithin):
			_ = p.cmd.Process.Kill()
			<-p.exited
			t.Errorf("the server did not stop within %v", stopWithin)
		}
		if t.Failed() {
			t.Logf("%s wrote:\n%s", p.URL, tail(p.Out.String(), 8000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SyncBuffer collects output written concurrently (a process's, a logger's) while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Port is a port on 127.0.0.1 that nothing listens on now, for another server of the test.
func Port(t testing.TB) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Build builds cmd/unlockd into dir, as the Makefile does, and returns the binary's path.
func Build(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if mod := strings.TrimSpace(string(gomod)); err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: %v (the go command and the module are needed to build unlockd)", err)
	}
	bin := filepath.Join(dir, "unlockd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/unlockd")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/unlockd: %w\n%s", err, out)
	}
	return bin, nil
}
