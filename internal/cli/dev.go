package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/directory/slapd"
	"github.com/unlockd/unlockd/internal/mailcatcher"
	"github.com/unlockd/unlockd/internal/pgcluster"
)

// Development stack defaults: where mailpit listens unless told otherwise, and where the data is
// kept.
const (
	devMailSMTP = "127.0.0.1:1025"
	devMailWeb  = "127.0.0.1:8025"
	devDataDir  = ".data"
)

// The variables that move mailpit's ports.
const (
	envDevSMTP  = "UNLOCKD_DEV_SMTP_LISTEN"
	envDevInbox = "UNLOCKD_DEV_INBOX_LISTEN"
)

// cmdDev runs what `make run` promises: a PostgreSQL cluster under .data/ (unless
// UNLOCKD_DATABASE_URL is set), mailpit, migrations, the demo seed and the server. Ctrl-C stops all
// of it; the data stays for the next run, unless --reset deletes it first.
//
// Everything that can be checked is checked before anything starts, or --reset deletes anything:
// the configuration, the listen address (bound at once, and held until the server takes it), that
// no other `unlockd dev` uses the data directory, mailpit's ports and the programs it runs.
func cmdDev(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("dev", stdio)
	reset := fs.Bool("reset", false, "delete the demo's database and mail first, for a fresh demo")
	dataDir := fs.String("data", devDataDir, "where the PostgreSQL cluster and the mail are kept")
	ldap := fs.Bool("ldap", false, "also run a throwaway OpenLDAP directory whose people unlockd fronts, one of them locked by failed binds")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("dev takes no arguments")
	}
	ownCluster := getenv("UNLOCKD_DATABASE_URL") == "" && getenv("DATABASE_URL") == ""
	ownMail := getenv("UNLOCKD_SMTP_URL") == ""
	if *ldap && getenv("UNLOCKD_DIRECTORY_URL") != "" {
		return usagef("%v", errDirectoryTwice)
	}
	if *reset && !ownCluster {
		return usagef("dev --reset deletes the demo's cluster under %s; with UNLOCKD_DATABASE_URL set there is none: empty that database yourself", *dataDir)
	}

	env := map[string]string{"UNLOCKD_DEV": "1"}
	merged := func(k string) string {
		if v, ok := env[k]; ok && getenv(k) == "" {
			return v
		}
		return getenv(k)
	}
	// The configuration as it will be, with stand-ins for the database and mail addresses that are
	// only known once their servers are chosen.
	preflight := func(k string) string {
		switch {
		case k == "UNLOCKD_DATABASE_URL" && ownCluster:
			return "postgres://postgres@localhost/unlockd"
		case k == "UNLOCKD_SMTP_URL" && ownMail:
			return "smtp://" + devMailSMTP + "?tls=none"
		}
		return merged(k)
	}
	cfg, err := config.Load(preflight, nil)
	if err != nil {
		return err
	}
	ln, err := listenDev(cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close() // the server closes it too; until then it keeps the address ours

	if ownCluster || ownMail || *ldap {
		release, err := lockDataDir(*dataDir)
		if err != nil {
			return err
		}
		defer release()
	}
	var smtpAddr, webAddr, mailBin string
	if ownMail {
		if smtpAddr, err = devMailAddr(stdio, getenv, envDevSMTP, devMailSMTP, "mailpit's SMTP server"); err != nil {
			return err
		}
		if webAddr, err = devMailAddr(stdio, getenv, envDevInbox, devMailWeb, "mailpit's inbox"); err != nil {
			return err
		}
		if smtpAddr == webAddr {
			return &config.Error{Var: envDevInbox, Msg: fmt.Sprintf("%s is also the SMTP address (%s)", webAddr, envDevSMTP)}
		}
		if mailBin, err = mailcatcher.Find(); err != nil { // make run installs it
			return err
		}
	}
	var cluster *pgcluster.Cluster
	if ownCluster {
		if cluster, err = pgcluster.New(filepath.Join(*dataDir, "pg"), 0); err != nil {
			return err
		}
	}
	if *reset {
		if err := resetDemo(ctx, stdio, cluster, *dataDir); err != nil {
			return err
		}
	}

	if ownCluster {
		fmt.Fprintln(stdio.Err, "unlockd dev: starting PostgreSQL in", cluster.Dir)
		if err := cluster.Start(ctx); err != nil {
			return err
		}
		defer func() {
			fmt.Fprintln(stdio.Err, "unlockd dev: stopping PostgreSQL")
			if err := cluster.Stop(); err != nil {
				fmt.Fprintln(stdio.Err, "unlockd dev:", err)
			}
		}()
		if err := cluster.EnsureDatabase(ctx, "unlockd"); err != nil {
			return err
		}
		env["UNLOCKD_DATABASE_URL"] = cluster.URL("unlockd")
	}
	inbox := ""
	if ownMail {
		if err := os.MkdirAll(*dataDir, 0o755); err != nil {
			return err
		}
		p, err := mailcatcher.Start(mailBin, mailcatcher.Options{SMTPAddr: smtpAddr, WebAddr: webAddr,
			Database: filepath.Join(*dataDir, "mailpit.db"), Args: []string{"--quiet"}, Output: stdio.Err})
		if err != nil {
			return err
		}
		defer p.Stop()
		env["UNLOCKD_SMTP_URL"] = "smtp://" + smtpAddr + "?tls=none"
		inbox = "http://" + webAddr
	}
	var dir *slapd.Server
	if *ldap {
		fmt.Fprintln(stdio.Err, "unlockd dev: starting a throwaway OpenLDAP directory in", demoDirectoryDir(*dataDir))
		if dir, err = startDemoDirectory(ctx, demoDirectoryDir(*dataDir)); err != nil {
			return err
		}
		defer dir.Stop()
		for k, v := range demoDirectoryEnv(dir) {
			env[k] = v
		}
	}
	a, err := open(ctx, merged, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.migrateUp(ctx); err != nil {
		return err
	}
	if err := seedDemo(ctx, a, stdio); err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	if dir != nil {
		if err := playDemoDirectory(ctx, a, dir); err != nil {
			return err
		}
	}
	directoryLines := ""
	if dir != nil {
		directoryLines = demoDirectoryBanner(dir, a.directory.dir.SyncInterval())
	}
	banner, err := demoBanner(ctx, a, inbox, directoryLines)
	if err != nil {
		return err
	}
	return a.serve(ctx, ln, func(string) { fmt.Fprint(stdio.Out, banner) })
}

// listenDev binds the server's address before anything else starts, saying plainly when another
// process holds it.
func listenDev(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		msg := addr + " is taken (by another make run, or another server): set UNLOCKD_LISTEN to a free address"
		if free := nearbyFreeAddr(addr); free != "" {
			msg += ", such as UNLOCKD_LISTEN=" + free + " make run"
		}
		return nil, &config.Error{Var: "UNLOCKD_LISTEN", Msg: msg}
	} else if err != nil {
		return nil, &config.Error{Var: "UNLOCKD_LISTEN", Msg: err.Error()}
	}
	return ln, nil
}

// nearbyFreeAddr suggests a free address on the host of addr, on one of the next few ports.
func nearbyFreeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return ""
	}
	for next := p + 1; next <= p+20 && next < 65536; next++ {
		candidate := net.JoinHostPort(host, strconv.Itoa(next))
		if mailcatcher.CheckFree(candidate) == nil {
			return candidate
		}
	}
	return ""
}

// devMailAddr chooses where one of mailpit's servers listens: the address in variable when set,
// which must be free; else def, or when another process holds def (another run's mailpit, whose
// inbox would otherwise be shared) a free port on the same host, said on stdio.Err.
func devMailAddr(stdio IO, getenv config.Getenv, variable, def, what string) (string, error) {
	addr := strings.TrimSpace(getenv(variable))
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", &config.Error{Var: variable, Msg: fmt.Sprintf("%q is not host:port", addr)}
		}
		if err := mailcatcher.CheckFree(addr); errors.Is(err, mailcatcher.ErrTaken) {
			return "", &config.Error{Var: variable, Msg: fmt.Sprintf("%s (for %s) is taken: set %s to a free address", addr, what, variable)}
		} else if err != nil {
			return "", &config.Error{Var: variable, Msg: err.Error()}
		}
		return addr, nil
	}
	err := mailcatcher.CheckFree(def)
	if err == nil {
		return def, nil
	}
	if !errors.Is(err, mailcatcher.ErrTaken) {
		return "", &config.Error{Var: variable, Msg: err.Error()}
	}
	host, _, _ := net.SplitHostPort(def)
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", &config.Error{Var: variable, Msg: fmt.Sprintf("%s is taken and no other port is free: %v", def, err)}
	}
	addr = l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	fmt.Fprintf(stdio.Err, "unlockd dev: %s is taken (by another make run?), so %s listens on %s (%s sets it)\n",
		def, what, addr, variable)
	return addr, nil
}

// lockDataDir makes sure that one `unlockd dev` at a time uses dataDir: a second would share the
// first's PostgreSQL (and stop it on its way out) and write into its mail. The lock is a file lock,
// which the system releases when the process ends, however it ends.
func lockDataDir(dataDir string) (release func(), err error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, "dev.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another unlockd dev (make run) uses %s: stop it first, or give this one a directory of its own with --data", dataDir)
		}
		return nil, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	return func() { f.Close() }, nil
}

// resetDemo deletes the demo's PostgreSQL cluster and mail under dataDir, so that this run seeds
// a fresh demo. It refuses while the cluster's server runs: another run is using it.
func resetDemo(ctx context.Context, stdio IO, cluster *pgcluster.Cluster, dataDir string) error {
	if cluster.Running(ctx) {
		return fmt.Errorf("the demo's PostgreSQL in %s is running (another make run from this checkout?): stop it before resetting the demo", cluster.Dir)
	}
	paths := []string{cluster.Dir}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		paths = append(paths, filepath.Join(dataDir, "mailpit.db"+suffix))
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdio.Err, "unlockd dev: reset: deleted the demo's database and mail in", dataDir)
	return nil
}
