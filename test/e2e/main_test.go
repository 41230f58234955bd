// Package e2e holds rkt's end-to-end tests: they drive the built bin/rkt as
// a user would, against real registries on 127.0.0.1 (Debian's
// docker-registry), hostile in-process registries and local image files.
//
// The binary is $RKT_BINARY, else ../../bin/rkt; when neither exists,
// TestMain builds one into a temporary directory. Every test needs root (it
// skips otherwise) and uses its own data directory and empty configuration
// directories, and runs rkt with only PATH, HOME and DOCKER_CONFIG (both
// temporary) in its environment, so the host's configuration never leaks
// in. Registries are per test, so tests run in parallel.
//
// Error output is held to SECURITY.md rule 11: exit 254, nothing on
// stdout, one stderr line prefixed with the subcommand. The
// "image: warning: ..." lines that an --insecure-options value prints
// (rule 8) are allowed beside it.
//
// Run with: make e2e (RKT_BINARY=$PWD/bin/rkt go test -count=1 ./test/e2e/...).
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// rktBinary is the absolute path of the rkt binary under test.
var rktBinary string

// rktTimeout bounds one rkt invocation, so that a hang fails its test
// instead of the whole suite's -timeout.
const rktTimeout = 3 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test skips; nothing to build.
		return m.Run()
	}
	bin, cleanup, err := findOrBuildRkt()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer cleanup()
	rktBinary = bin
	return m.Run()
}

// findOrBuildRkt returns $RKT_BINARY, else ../../bin/rkt, else a binary
// built from ../../cmd/rkt into a temporary directory.
func findOrBuildRkt() (string, func(), error) {
	nop := func() {}
	if p := os.Getenv("RKT_BINARY"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", nop, err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", nop, fmt.Errorf("RKT_BINARY: %w", err)
		}
		return abs, nop, nil
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return "", nop, err
	}
	if p := filepath.Join(root, "bin", "rkt"); fileExists(p) {
		return p, nop, nil
	}
	tmp, err := os.MkdirTemp("", "rkt-e2e-bin-")
	if err != nil {
		return "", nop, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	bin := filepath.Join(tmp, "rkt")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rkt")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nop, fmt.Errorf("go build ./cmd/rkt: %w\n%s", err, out)
	}
	return bin, cleanup, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// requireRoot skips the test when not run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: rkt renders image layers with their owners, device whiteouts and overlay mounts")
	}
	if rktBinary == "" {
		t.Fatal("no rkt binary (TestMain did not find or build one)")
	}
}

// env is one isolated rkt installation: a data directory, empty system and
// local configuration directories, and HOME and DOCKER_CONFIG of its own.
type env struct {
	dir          string // --dir
	systemConfig string // --system-config
	localConfig  string // --local-config
	home         string // $HOME of the rkt process
	dockerConfig string // $DOCKER_CONFIG of the rkt process
	// vars are extra KEY=VALUE environment variables for rkt.
	vars []string
}

// newEnv skips the test unless root and returns a fresh environment.
func newEnv(t *testing.T) *env {
	t.Helper()
	requireRoot(t)
	base := t.TempDir()
	e := &env{
		dir:          filepath.Join(base, "data"),
		systemConfig: filepath.Join(base, "system-config"),
		localConfig:  filepath.Join(base, "local-config"),
		home:         filepath.Join(base, "home"),
		dockerConfig: filepath.Join(base, "docker-config"),
	}
	for _, d := range []string{e.systemConfig, e.localConfig, e.home, e.dockerConfig} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// store is the image store directory.
func (e *env) store() string { return filepath.Join(e.dir, "store") }

// globalFlags are the flags that keep rkt inside this environment.
func (e *env) globalFlags() []string {
	return []string{"--dir=" + e.dir, "--system-config=" + e.systemConfig, "--local-config=" + e.localConfig}
}

// environ is the whole environment of the rkt process: nothing is
// inherited from the test but PATH, and GOCOVERDIR for a coverage build
// (make cover).
func (e *env) environ(extra ...string) []string {
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"DOCKER_CONFIG=" + e.dockerConfig,
	}
	if d := os.Getenv("GOCOVERDIR"); d != "" {
		vars = append(vars, "GOCOVERDIR="+d)
	}
	vars = append(vars, e.vars...)
	return append(vars, extra...)
}

// result is what one rkt run produced.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("rkt %s\nexit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// command is the command line without the environment's global flags.
func (r result) command() string {
	var args []string
	for _, a := range r.args {
		if strings.HasPrefix(a, "--dir=") || strings.HasPrefix(a, "--system-config=") || strings.HasPrefix(a, "--local-config=") {
			continue
		}
		args = append(args, a)
	}
	return "rkt " + strings.Join(args, " ")
}

// rkt runs rkt with this environment's global flags followed by args.
func rkt(t *testing.T, e *env, args ...string) result {
	t.Helper()
	return rawRkt(t, e, append(e.globalFlags(), args...)...)
}

// rawRkt runs rkt with exactly args (no global flags added), in e's
// process environment.
func rawRkt(t *testing.T, e *env, args ...string) result {
	t.Helper()
	cmd, stdout, stderr, cancel := rktCommand(e, args...)
	defer cancel()
	err := cmd.Run()
	return finish(t, args, cmd, err, stdout, stderr)
}

// rawRktAt is rawRkt of another rkt binary.
//
// bin may be a copy the test has just written: while it was open for
// writing, a parallel test's fork may have taken the descriptor along
// until its exec, and an exec of bin meanwhile fails with ETXTBSY (Go
// issue 22315). Such a start is tried again, for up to a second.
func rawRktAt(t *testing.T, e *env, bin string, args ...string) result {
	t.Helper()
	for try := 0; ; try++ {
		cmd, stdout, stderr, cancel := rktCommandAt(bin, e, args...)
		err := cmd.Run()
		cancel()
		if errors.Is(err, unix.ETXTBSY) && try < 50 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return finish(t, args, cmd, err, stdout, stderr)
	}
}

func rktCommand(e *env, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, context.CancelFunc) {
	return rktCommandAt(rktBinary, e, args...)
}

func rktCommandAt(bin string, e *env, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), rktTimeout)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	return cmd, &stdout, &stderr, cancel
}

func finish(t *testing.T, args []string, cmd *exec.Cmd, err error, stdout, stderr *bytes.Buffer) result {
	t.Helper()
	res := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	default:
		t.Fatalf("rkt %s: %v (killed after %v?)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, rktTimeout, res.stdout, res.stderr)
	}
	if cmd.ProcessState != nil && !cmd.ProcessState.Exited() {
		t.Fatalf("rkt %s did not exit normally: %v", strings.Join(args, " "), cmd.ProcessState)
	}
	return res
}

// ok fails the test unless rkt exited 0.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("want exit code 0:\n%s", r)
	}
	return r
}

// exit fails the test unless rkt exited with code.
func (r result) exit(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit code %d:\n%s", code, r)
	}
	return r
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// warningPrefix starts the warnings rkt prints when a security check is
// turned off (SECURITY.md rule 8); they may come with any fetch.
const warningPrefix = "image: warning: "

// errorLine checks that rkt failed as SECURITY.md rule 11 says: exit 254,
// nothing on stdout, and on stderr exactly one line, prefixed with
// prefix ("fetch: "), besides rkt's "image: warning: " lines. It returns
// that line.
func (r result) errorLine(t *testing.T, prefix string) string {
	t.Helper()
	if r.code != 254 {
		t.Fatalf("want exit code 254:\n%s", r)
	}
	if r.stdout != "" {
		t.Errorf("want nothing on stdout:\n%s", r)
	}
	var errs []string
	for _, l := range lines(r.stderr) {
		if strings.HasPrefix(l, warningPrefix) {
			continue
		}
		errs = append(errs, l)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], prefix) {
		t.Fatalf("want exactly one error line on stderr starting with %q:\n%s", prefix, r)
	}
	t.Logf("%s: %s", r.command(), errs[0])
	return errs[0]
}

// mentions fails the test unless s contains every one of subs
// (case-insensitively).
func mentions(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(strings.ToLower(s), strings.ToLower(sub)) {
			t.Errorf("%s %q does not mention %q", what, s, sub)
		}
	}
}

// singleID returns the one line of stdout, which must be an image ID.
func (r result) singleID(t *testing.T) string {
	t.Helper()
	l := lines(r.stdout)
	if len(l) != 1 {
		t.Fatalf("want exactly one line (an image ID) on stdout:\n%s", r)
	}
	return l[0]
}

// shortID is the ID rkt fetch prints for an image with manifest digest d.
func shortID(d v1.Hash) string { return "sha256-" + d.Hex[:32] }

// fullID is the ID rkt fetch --full prints.
func fullID(d v1.Hash) string { return "sha256-" + d.Hex }

// digestOf returns the manifest digest of an image or index.
func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Insecure option sets used by the tests.
const (
	insecureImage     = "--insecure-options=image"
	insecureImageHTTP = "--insecure-options=image,http"
)

// fetch runs `rkt --insecure-options=image,http fetch args...`.
func fetch(t *testing.T, e *env, args ...string) result {
	t.Helper()
	return rkt(t, e, append([]string{insecureImageHTTP, "fetch"}, args...)...)
}

// mustFetch fetches and returns the printed ID.
func mustFetch(t *testing.T, e *env, args ...string) string {
	t.Helper()
	return fetch(t, e, args...).ok(t).singleID(t)
}

// writeJSON writes v as JSON to path, creating its directory.
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeDockerAuth writes an auth.d dockerAuth file into configDir.
func writeDockerAuth(t *testing.T, configDir, file, registry, user, password string) {
	t.Helper()
	writeJSON(t, filepath.Join(configDir, "auth.d", file), map[string]any{
		"rktKind":    "dockerAuth",
		"rktVersion": "v1",
		"registries": []string{registry},
		"credentials": map[string]string{
			"user":     user,
			"password": password,
		},
	})
}

// writeDockerConfig writes $DOCKER_CONFIG/config.json with credentials for
// registry.
func writeDockerConfig(t *testing.T, e *env, registry, user, password string) {
	t.Helper()
	writeJSON(t, filepath.Join(e.dockerConfig, "config.json"), map[string]any{
		"auths": map[string]any{
			registry: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
		},
	})
}

// initStore makes rkt create the store (an empty image list), so that a
// snapshot taken afterwards is the state before the command under test.
func initStore(t *testing.T, e *env) {
	t.Helper()
	r := rkt(t, e, "image", "list", "--no-legend").ok(t)
	if r.stdout != "" {
		t.Fatalf("fresh store is not empty:\n%s", r)
	}
}
