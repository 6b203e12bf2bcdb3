// Package mailcatcher runs mailpit, a real SMTP server with a web inbox and an HTTP API onto what it
// received: the mail catcher of `unlockd dev`, and of the tests through the mailpit test helper.
// It is linked into the production binary, so it must never import testing.
package mailcatcher

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is the mailpit release `make` installs: go install github.com/axllent/mailpit@Version.
const Version = "v1.27.11"

// readyWithin bounds how long a starting mailpit may take to answer on both ports.
const readyWithin = 15 * time.Second

// Find returns the path of the mailpit binary: on PATH, else in GOBIN, GOPATH/bin or ~/go/bin
// (where `go install` puts it, which need not be on PATH).
func Find() (string, error) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if gopath := os.Getenv("GOPATH"); gopath != "" {
		for _, p := range filepath.SplitList(gopath) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "mailpit")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("mailpit not found: install it with 'go install github.com/axllent/mailpit@" + Version + "'")
}

// Options say where a mailpit listens and keeps its mail.
type Options struct {
	SMTPAddr string    // host:port of the SMTP server
	WebAddr  string    // host:port of the web inbox and API
	Database string    // the file mail is kept in; the same file again keeps the mail of a previous run
	Args     []string  // extra mailpit flags, such as --quiet or --smtp-auth-file FILE
	Output   io.Writer // receives what mailpit prints; nil discards it
}

// Process is one running mailpit.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs the mailpit binary bin and returns once both its SMTP server and its API answer. When it
// exits or stays silent instead, the error carries the beginning of what it printed.
//
// Both addresses must be free: a mail catcher already answering there (another run's) would
// otherwise pass for this one, and its inbox would silently be shared.
func Start(bin string, o Options) (*Process, error) {
	for _, addr := range []string{o.SMTPAddr, o.WebAddr} {
		if err := CheckFree(addr); err != nil {
			return nil, err
		}
	}
	args := append([]string{"--smtp", o.SMTPAddr, "--listen", o.WebAddr, "--database", o.Database,
		"--disable-version-check"}, o.Args...)
	startup := &headBuffer{limit: 8 << 10}
	out := io.Writer(startup)
	if o.Output != nil {
		out = io.MultiWriter(o.Output, startup)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(readyWithin)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("mailpit exited at start: %s", startup.String())
		default:
		}
		if ready(o) {
			return p, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("mailpit not ready within %s: %s", readyWithin, startup.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ErrTaken means an address is in use by another process.
var ErrTaken = errors.New("is taken")

// CheckFree reports whether a listener could bind addr now: nil when it could, an error wrapping
// ErrTaken when another process listens there, and the error of the attempt otherwise.
func CheckFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %w", addr, ErrTaken)
	} else if err != nil {
		return err
	}
	return l.Close()
}

func ready(o Options) bool {
	c, err := net.DialTimeout("tcp", o.SMTPAddr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + o.WebAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop asks mailpit to exit and kills it when it has not within five seconds.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// headBuffer keeps the first limit bytes written to it, from both of the process's output streams:
// enough to say why a start failed, without growing for as long as the process runs.
type headBuffer struct {
	mu    sync.Mutex
	limit int
	b     strings.Builder
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.limit - h.b.Len(); room > 0 {
		h.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.TrimSpace(h.b.String())
}
