package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/config"
)

// The image and the systemd unit in docs/deploy are not built here (there may be no Docker engine,
// and systemd may not run the tests' machine), so these tests hold them to what they must say:
// the binary the Makefile builds, static and non-root, with a health check the image can run.

const deployDir = "../../docs/deploy"

// instruction is one line of a Dockerfile, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	body       []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func readDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var line string
	for raw := range strings.Lines(string(b)) {
		raw = strings.TrimRight(raw, "\r\n")
		if trimmed := strings.TrimSpace(raw); strings.HasPrefix(trimmed, "#") || (trimmed == "" && line == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(raw, "\\"); ok {
			line += cont + " "
			continue
		}
		line += raw
		cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		line = ""
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before the first FROM", path, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages
}

// goBuild is one `go build` command line: the environment it sets, its flags (-o apart), its
// output and the package it builds.
type goBuild struct {
	env   []string
	flags []string
	out   string
	pkg   string
}

func parseGoBuild(t *testing.T, where, line string) goBuild {
	t.Helper()
	f := strings.Fields(line)
	var b goBuild
	for len(f) > 0 && strings.Contains(f[0], "=") {
		b.env = append(b.env, f[0])
		f = f[1:]
	}
	if len(f) < 3 || f[0] != "go" || f[1] != "build" {
		t.Fatalf("%s: %q is not a go build command", where, line)
	}
	f = f[2:]
	b.pkg = f[len(f)-1]
	for i := 0; i < len(f)-1; i++ {
		if f[i] == "-o" && i+1 < len(f)-1 {
			b.out = f[i+1]
			i++
			continue
		}
		if !strings.HasPrefix(f[i], "-") {
			t.Fatalf("%s: go build of more than one package: %q", where, line)
		}
		b.flags = append(b.flags, f[i])
	}
	return b
}

// makefileBuild is the go build of the Makefile's build target.
func makefileBuild(t *testing.T) goBuild {
	t.Helper()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "build:") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(line, "\t") {
			break
		}
		if in && strings.Contains(line, "$(GO) build") {
			return parseGoBuild(t, "Makefile", strings.ReplaceAll(strings.TrimSpace(line), "$(GO)", "go"))
		}
	}
	t.Fatal("the Makefile's build target has no $(GO) build")
	return goBuild{}
}

// execForm reads a JSON array (the exec form of CMD, ENTRYPOINT, HEALTHCHECK CMD).
func execForm(t *testing.T, what, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("Dockerfile: %s %s is not the exec form (a JSON array): distroless has no shell", what, s)
	}
	return argv
}

func TestDockerfileBuildsTheMakefilesBinaryStaticAndNonRoot(t *testing.T) {
	path := filepath.Join(deployDir, "Dockerfile")
	stages := readDockerfile(t, path)
	if len(stages) < 2 {
		t.Fatalf("%s: %d stages; want a build stage and a final one", path, len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// The build stage: the Go of go.mod, and the Makefile's go build, static.
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var goVersion string
	for line := range strings.Lines(string(goMod)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			goVersion = strings.Join(strings.SplitN(v, ".", 3)[:2], ".")
		}
	}
	if build.from != "golang:"+goVersion {
		t.Errorf("build stage FROM %s; want golang:%s, the Go of go.mod", build.from, goVersion)
	}
	var docker *goBuild
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			if docker != nil {
				t.Fatalf("%s: more than one go build", path)
			}
			b := parseGoBuild(t, path, in.args)
			docker = &b
		}
	}
	if docker == nil {
		t.Fatalf("%s: the build stage runs no go build", path)
	}
	mk := makefileBuild(t)
	if docker.pkg != mk.pkg {
		t.Errorf("the image builds %s, the Makefile %s", docker.pkg, mk.pkg)
	}
	// The same flags as the Makefile's, and -trimpath (no paths of the build machine in the binary).
	if want := append(slices.Clone(mk.flags), "-trimpath"); !sameSet(docker.flags, want) {
		t.Errorf("the image's go build flags %v; want the Makefile's %v and -trimpath", docker.flags, mk.flags)
	}
	if !slices.Contains(docker.env, "CGO_ENABLED=0") {
		t.Errorf("the image's go build does not set CGO_ENABLED=0 (a static binary): env %v", docker.env)
	}
	for _, e := range docker.env {
		if e != "CGO_ENABLED=0" && !strings.HasPrefix(e, "GOOS=") && !strings.HasPrefix(e, "GOARCH=") {
			t.Errorf("the image's go build sets %s, which the Makefile's does not", e)
		}
	}
	// The build stage copies every directory the binary is built from.
	copied := map[string]bool{}
	for _, in := range build.all("COPY") {
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
			copied[strings.TrimPrefix(filepath.Clean(src), "./")] = true
		}
	}
	if !copied["go.mod"] || !copied["go.sum"] {
		t.Errorf("the build stage copies %v; want go.mod and go.sum", copied)
	}
	for _, dir := range mainModuleDirs(t) {
		if top, _, _ := strings.Cut(dir, "/"); !copied[top] {
			t.Errorf("the binary is built from %s, which the build stage does not copy (it copies %v)", dir, copied)
		}
	}

	// The final stage: distroless or scratch, the built binary, a user that is not root.
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s; want distroless static or scratch", final.from)
	}
	var bin string
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == docker.out {
			bin = f[2]
		}
	}
	if bin == "" {
		t.Fatalf("the final stage does not copy %s from the build stage %q", docker.out, build.name)
	}
	users := final.all("USER")
	if len(users) == 0 && !strings.HasSuffix(final.from, ":nonroot") {
		t.Error("the final stage sets no USER and its base is not a nonroot one")
	}
	for _, u := range users {
		if name, _, _ := strings.Cut(u.args, ":"); name == "root" || name == "0" {
			t.Errorf("the final stage runs as %s", u.args)
		}
	}

	// It serves on the port it exposes, and checks its health with the binary, not a shell.
	var listen string
	for _, in := range final.all("ENV") {
		if v, ok := strings.CutPrefix(in.args, "UNLOCKD_LISTEN="); ok {
			listen = v
		}
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("the final stage's ENV UNLOCKD_LISTEN=%q: %v", listen, err)
	}
	if exposed := final.all("EXPOSE"); len(exposed) != 1 || exposed[0].args != port {
		t.Errorf("EXPOSE %v; want %s, the port of UNLOCKD_LISTEN", exposed, port)
	}
	health := final.all("HEALTHCHECK")
	if len(health) != 1 {
		t.Fatalf("the final stage has %d HEALTHCHECKs; want one", len(health))
	}
	_, hc, ok := strings.Cut(health[0].args, "CMD ")
	if argv := execForm(t, "HEALTHCHECK CMD", hc); !ok || argv[0] != bin || len(argv) < 2 || argv[1] != "health" {
		t.Errorf("HEALTHCHECK %s; want CMD [%q, \"health\"]", health[0].args, bin)
	}
	entry, cmd := final.all("ENTRYPOINT"), final.all("CMD")
	if len(entry) != 1 || len(cmd) != 1 {
		t.Fatalf("the final stage has %d ENTRYPOINTs and %d CMDs; want one of each", len(entry), len(cmd))
	}
	if argv := append(execForm(t, "ENTRYPOINT", entry[0].args), execForm(t, "CMD", cmd[0].args)...); !slices.Equal(argv, []string{bin, "serve"}) {
		t.Errorf("the image runs %v; want [%s serve]", argv, bin)
	}

	// What the build does not send: the development stack's data, nor anything the build copies.
	ignore, err := os.ReadFile(path + ".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	ignored := strings.Fields(string(ignore))
	if !slices.Contains(ignored, ".data") {
		t.Errorf("%s.dockerignore does not leave out .data (the development databases)", path)
	}
	for src := range copied {
		if slices.Contains(ignored, src) {
			t.Errorf("%s.dockerignore leaves out %s, which the build copies", path, src)
		}
	}

	if testing.Short() {
		return
	}
	// Build as the image does: a static binary, whose health check runs.
	out := filepath.Join(t.TempDir(), "unlockd")
	args := append(append([]string{"build"}, docker.flags...), "-o", out, docker.pkg)
	c := exec.Command("go", args...)
	c.Dir = "../.."
	c.Env = append(os.Environ(), docker.env...)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s go %s: %v\n%s", strings.Join(docker.env, " "), strings.Join(args, " "), err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the image's binary asks for a dynamic loader: it would not start on %s", final.from)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the image's binary needs %v", libs)
	}
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ready\n"))
	}))
	defer ready.Close()
	_, readyPort, _ := net.SplitHostPort(strings.TrimPrefix(ready.URL, "http://"))
	healthCheck := func() *exec.Cmd {
		c := exec.Command(out, execForm(t, "HEALTHCHECK CMD", hc)[1:]...)
		c.Env = []string{"UNLOCKD_LISTEN=0.0.0.0:" + readyPort}
		return c
	}
	if b, err := healthCheck().CombinedOutput(); err != nil || !strings.Contains(string(b), "200 ready") {
		t.Errorf("the health check against a ready server: %v\n%s", err, b)
	}
	ready.Close()
	b, err := healthCheck().CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("the health check with nothing listening: %v; want exit 1\n%s", err, b)
	}
}

// mainModuleDirs are the directories, relative to the module's root, of the packages of this module
// that the binary is built from.
func mainModuleDirs(t *testing.T) []string {
	t.Helper()
	c := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, d := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, d)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("package directory %s is outside the module at %s", d, root)
		}
		dirs = append(dirs, filepath.ToSlash(rel))
	}
	return dirs
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// readUnit reads a systemd unit file: each key of each section with its values, in order.
func readUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" || strings.HasSuffix(line, "\\") {
			t.Fatalf("%s:%d: %q is not KEY=VALUE in a section", path, n, line)
		}
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSystemdUnitIsHardenedAndServes(t *testing.T) {
	path := filepath.Join(deployDir, "unlockd.service")
	u := readUnit(t, path)
	svc := u["Service"]
	if svc == nil || u["Install"] == nil {
		t.Fatalf("%s has no [Service] or no [Install]", path)
	}
	last := func(k string) (string, bool) {
		v, ok := svc[k]
		if !ok {
			return "", false
		}
		return v[len(v)-1], true
	}
	if v, _ := last("ExecStart"); strings.Join(strings.Fields(v), " ") != "/usr/local/bin/unlockd serve" {
		t.Errorf("ExecStart=%s; want /usr/local/bin/unlockd serve", v)
	}
	if v, _ := last("EnvironmentFile"); v != "/etc/unlockd/unlockd.env" {
		t.Errorf("EnvironmentFile=%s; want /etc/unlockd/unlockd.env", v)
	}
	dyn, _ := last("DynamicUser")
	user, _ := last("User")
	if dyn != "yes" && (user == "" || user == "root" || user == "0") {
		t.Errorf("the service runs as root: neither DynamicUser=yes nor a User= of its own")
	}
	want := map[string]string{
		"Restart":                 "on-failure",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallFilter":        "@system-service",
		"CapabilityBoundingSet":   "",
		"UMask":                   "0077",
	}
	for k, w := range want {
		if v, ok := last(k); !ok || v != w {
			t.Errorf("%s: %s=%q; want %q", path, k, v, w)
		}
	}
	if v, ok := last("AmbientCapabilities"); ok && v != "" {
		t.Errorf("AmbientCapabilities=%s: the default port needs none", v)
	}
	if v, _ := last("LimitNOFILE"); v == "" {
		t.Error("no LimitNOFILE")
	}
	// The shutdown lets serve drain its requests (20 s) before systemd kills it.
	if v, _ := last("TimeoutStopSec"); v != "30s" {
		t.Errorf("TimeoutStopSec=%s; want 30s, beyond serve's 20 s of draining", v)
	}

	// The example environment file is a configuration serve accepts once the key is filled in,
	// and refuses as it stands.
	env := readEnvFile(t, filepath.Join(deployDir, "unlockd.env"))
	if _, err := config.Load(func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), "UNLOCKD_SECRET_KEY") {
		t.Errorf("the example environment without a key: %v; want a refusal naming UNLOCKD_SECRET_KEY", err)
	}
	env["UNLOCKD_SECRET_KEY"] = strings.Repeat("k", 32)
	if _, err := config.Load(func(k string) string { return env[k] }, nil); err != nil {
		t.Errorf("the example environment with a key: %v", err)
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the unit is checked by this test alone")
		return
	}
	// systemd-analyze verify in a root of its own, with the system's units and the binary in place.
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "usr/lib/systemd/system"), os.DirFS("/usr/lib/systemd/system")); err != nil {
		t.Skipf("the system's units: %v", err)
	}
	for name, file := range map[string]struct {
		body string
		mode os.FileMode
	}{
		"usr/local/bin/unlockd":              {"#!/bin/sh\n", 0o755},
		"etc/systemd/system/unlockd.service": {string(mustRead(t, path)), 0o644},
		"etc/unlockd/unlockd.env":            {"", 0o600},
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(file.body), file.mode); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "unlockd.service").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readEnvFile reads an EnvironmentFile: KEY=VALUE lines, # comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for line := range strings.Lines(string(mustRead(t, path))) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	return env
}
