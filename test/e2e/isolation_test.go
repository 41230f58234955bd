package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/isolation/caps"
	"github.com/rkt/rkt/internal/testutil"
)

var probeBuild struct {
	once sync.Once
	data []byte
	err  error
}

// probeLayout builds test/images/probe (static) and writes an image of
// busybox plus /probe as an OCI layout; it returns its oci: reference.
func probeLayout(t *testing.T) string {
	t.Helper()
	probeBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "rkt-probe-")
		if err != nil {
			probeBuild.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "probe")
		cmd := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-o", out, "./test/images/probe")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			probeBuild.err = fmt.Errorf("building the probe: %w\n%s", err, b)
			return
		}
		probeBuild.data, probeBuild.err = os.ReadFile(out)
	})
	if probeBuild.err != nil {
		t.Fatal(probeBuild.err)
	}
	img := testutil.Image(t, v1.Config{Cmd: []string{"/probe"}, Env: []string{testutil.DefaultPathEnv}},
		testutil.BusyboxLayer(t),
		testutil.Layer(t, []testutil.TarEntry{testutil.File("probe", 0o755, string(probeBuild.data))}, "gzip"))
	dir := filepath.Join(t.TempDir(), "probe")
	testutil.WriteOCILayout(t, dir, img, "latest")
	return "oci:" + dir + ":latest"
}

// probe is what the probe reported.
type probe map[string]string

func parseProbe(t *testing.T, out string) probe {
	t.Helper()
	p := probe{}
	for _, l := range lines(out) {
		if k, v, ok := strings.Cut(l, "="); ok {
			p[k] = v
		}
	}
	if p["capbnd"] == "" {
		t.Fatalf("no probe output:\n%s", out)
	}
	return p
}

func (p probe) set(t *testing.T, key string) caps.Set {
	t.Helper()
	n, err := strconv.ParseUint(p[key], 16, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, p[key], err)
	}
	return caps.Set(n)
}

// runProbe runs the probe image as the only app of a pod with the given
// flags (global and run flags first, then per-app flags after "--app").
func runProbe(t *testing.T, e *env, img string, podFlags, appFlags []string) probe {
	t.Helper()
	args := append([]string{insecureImage}, podFlags...)
	args = append(append(args, "run", "--net=host", img), appFlags...)
	r := rkt(t, e, args...).ok(t)
	return parseProbe(t, r.stdout)
}

func hostBounding(t *testing.T) caps.Set {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	sets, err := caps.ParseStatus(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return sets["CapBnd"]
}

// TestIsolationDefaults: a default root app has rkt's bounding set as its
// capabilities, nothing inheritable or ambient; it cannot mount, ptrace
// pod init or write /proc/sys; the masked paths read empty; only 0, 1 and
// 2 came from outside.
func TestIsolationDefaults(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	img := probeLayout(t)
	p := runProbe(t, e, img, nil, nil)
	if got := p.set(t, "capbnd"); got != caps.Default {
		t.Errorf("bounding set %s, want %s", got, caps.Default)
	}
	if p.set(t, "capeff") != caps.Default || p.set(t, "capprm") != caps.Default {
		t.Errorf("root app's effective/permitted sets: %s / %s", p["capeff"], p["capprm"])
	}
	if p.set(t, "capinh") != 0 || p.set(t, "capamb") != 0 {
		t.Errorf("inheritable %s, ambient %s: want none", p["capinh"], p["capamb"])
	}
	want := map[string]string{
		// rkt's default whitelist kills these before the capabilities
		// are even checked; clone with CLONE_NEWUSER fails.
		"mount":                                "SIGSYS",
		"ptrace":                               "SIGSYS",
		"keyctl":                               "SIGSYS",
		"unshare_user":                         "EPERM",
		"x32_keyctl":                           "SIGSYS",
		"mknod":                                "EPERM", // the device cgroup: no device may be created
		"seccomp":                              "2",
		"write:/proc/sys/kernel/domainname":    "EROFS",
		"write:/proc/irq/default_smp_affinity": "EROFS",
		"read:/proc/keys":                      "0 bytes",
		"read:/proc/timer_list":                "0 bytes",
		"read:/proc/interrupts":                "0 bytes",
		"list:/sys/firmware":                   "0 entries",
		"list:/proc/acpi":                      "0 entries",
		"nonewprivs":                           "0",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	for _, fd := range strings.Fields(p["fds"]) {
		n, target, _ := strings.Cut(fd, ":")
		if strings.Contains(target, e.dir) || strings.Contains(target, "/pods/") || strings.Contains(target, "lock") {
			t.Errorf("fd %s of the app is %s, from rkt's side", n, target)
		}
	}
	if !strings.Contains(p["fds"], "0:/dev/null") {
		t.Errorf("stdin is not /dev/null: %s", p["fds"])
	}
}

// TestIsolationCapsFlags: --caps-retain is the bounding set, --caps-remove
// takes from the default, both at once is refused, a non-root app has no
// capabilities, and --insecure-options=capabilities gives the host's set.
func TestIsolationCapsFlags(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	img := probeLayout(t)
	retain, _ := caps.ParseSet([]string{"CAP_NET_ADMIN", "CAP_SYS_TIME"})
	p := runProbe(t, e, img, nil, []string{"--caps-retain=CAP_NET_ADMIN,sys_time"})
	if p.set(t, "capbnd") != retain || p.set(t, "capeff") != retain {
		t.Errorf("--caps-retain: bounding %s effective %s, want %s", p["capbnd"], p["capeff"], retain)
	}
	removed, _ := caps.ParseSet([]string{"CAP_CHOWN", "CAP_NET_RAW"})
	p = runProbe(t, e, img, nil, []string{"--caps-remove=CAP_CHOWN,CAP_NET_RAW"})
	if got := p.set(t, "capbnd"); got != caps.Default&^removed {
		t.Errorf("--caps-remove: bounding %s, want %s", got, caps.Default&^removed)
	}
	r := rkt(t, e, insecureImage, "run", "--net=host", img, "--caps-retain=CAP_CHOWN", "--caps-remove=CAP_KILL").exit(t, 254)
	if !strings.Contains(r.stderr, "mutually exclusive") {
		t.Errorf("both flags: %s", r.stderr)
	}
	r = rkt(t, e, insecureImage, "run", "--net=host", img, "--caps-retain=CAP_FLY").exit(t, 254)
	if !strings.Contains(r.stderr, `unknown capability "CAP_FLY"`) {
		t.Errorf("unknown capability: %s", r.stderr)
	}

	p = runProbe(t, e, img, nil, []string{"--user=65534"})
	if p.set(t, "capeff") != 0 || p.set(t, "capprm") != 0 || p.set(t, "capbnd") != caps.Default {
		t.Errorf("non-root app: effective %s permitted %s bounding %s", p["capeff"], p["capprm"], p["capbnd"])
	}
	if p["nonewprivs"] != "1" || p["seccomp"] != "2" {
		t.Errorf("non-root app with seccomp: no_new_privs %s, seccomp %s: want both", p["nonewprivs"], p["seccomp"])
	}

	args := []string{insecureImage + ",capabilities", "run", "--net=host", img}
	r = rkt(t, e, args...).ok(t)
	p = parseProbe(t, r.stdout)
	if got := p.set(t, "capbnd"); got != hostBounding(t) {
		t.Errorf("--insecure-options=capabilities: bounding %s, want the host's %s", got, hostBounding(t))
	}
	if p["mount"] != "SIGSYS" {
		t.Errorf("with every capability, mount gave %s: the seccomp filter must stay", p["mount"])
	}
	if !strings.Contains(r.stderr, "--insecure-options=capabilities") {
		t.Errorf("no warning for --insecure-options=capabilities:\n%s", r.stderr)
	}
	// Paths stay masked: each option loosens only its part.
	if p["read:/proc/timer_list"] != "0 bytes" || p["write:/proc/sys/kernel/domainname"] != "EROFS" {
		t.Errorf("--insecure-options=capabilities loosened the paths too: %v", p)
	}
}

// TestIsolationInsecurePaths: --insecure-options=paths uncovers exactly the
// masked and read-only paths, and keeps the capability limits.
func TestIsolationInsecurePaths(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	img := probeLayout(t)
	r := rkt(t, e, insecureImage+",paths", "run", "--net=host", img).ok(t)
	p := parseProbe(t, r.stdout)
	if p["read:/proc/timer_list"] == "0 bytes" || p["write:/proc/sys/kernel/domainname"] != "ok" {
		t.Errorf("--insecure-options=paths: timer_list %s, /proc/sys %s", p["read:/proc/timer_list"], p["write:/proc/sys/kernel/domainname"])
	}
	if p.set(t, "capbnd") != caps.Default || p["seccomp"] != "2" {
		t.Errorf("--insecure-options=paths changed the capabilities (%s) or seccomp (%s)", p["capbnd"], p["seccomp"])
	}
	if !strings.Contains(r.stderr, "--insecure-options=paths") {
		t.Errorf("no warning:\n%s", r.stderr)
	}
}

// TestIsolationSeccomp: --insecure-options=seccomp lifts only the filter;
// --seccomp replaces the default with a remove or retain set, with an
// errno; bad sets are refused.
func TestIsolationSeccomp(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	img := probeLayout(t)
	r := rkt(t, e, insecureImage+",seccomp", "run", "--net=host", img).ok(t)
	p := parseProbe(t, r.stdout)
	if p["seccomp"] != "0" || p["keyctl"] == "SIGSYS" || p["x32_keyctl"] == "SIGSYS" {
		t.Errorf("--insecure-options=seccomp: seccomp %s keyctl %s x32 keyctl %s", p["seccomp"], p["keyctl"], p["x32_keyctl"])
	}
	if p["mount"] != "EPERM" || p.set(t, "capbnd") != caps.Default {
		t.Errorf("--insecure-options=seccomp loosened the capabilities: mount %s, bounding %s", p["mount"], p["capbnd"])
	}
	if !strings.Contains(r.stderr, "--insecure-options=seccomp") {
		t.Errorf("no warning:\n%s", r.stderr)
	}

	p = runProbe(t, e, img, nil, []string{"--seccomp=mode=remove,errno=ENOTSUP,keyctl,add_key"})
	if p["keyctl"] != "ENOTSUP" || p["seccomp"] != "2" || p["mount"] != "EPERM" {
		t.Errorf("remove set with errno: keyctl %s seccomp %s mount %s", p["keyctl"], p["seccomp"], p["mount"])
	}
	p = runProbe(t, e, img, nil, []string{"--seccomp=mode=retain,@rkt/default-whitelist,keyctl"})
	if p["keyctl"] == "SIGSYS" || p["ptrace"] != "SIGSYS" {
		t.Errorf("retain set with keyctl: keyctl %s ptrace %s", p["keyctl"], p["ptrace"])
	}
	p = runProbe(t, e, img, nil, []string{"--seccomp=mode=retain,errno=EACCES,@docker/default-whitelist"})
	if p["ptrace"] != "EACCES" || p["mount"] != "EACCES" {
		t.Errorf("retain set with errno: ptrace %s mount %s", p["ptrace"], p["mount"])
	}
	for _, bad := range []string{"mode=retain,nosuchcall", "mode=keep,read", "keyctl", "mode=remove,execve", "mode=retain,errno=EWHAT,read", "mode=retain,@systemd/clock"} {
		r := rkt(t, e, insecureImage, "run", "--net=host", img, "--seccomp="+bad).exit(t, 254)
		if !strings.Contains(r.stderr, "--seccomp") {
			t.Errorf("--seccomp=%s: %s", bad, r.stderr)
		}
	}
}

// TestIsolationOOMScoreAdjAndNoNewPrivs: --oom-score-adj reaches the app;
// the no-new-privileges isolator of a pod manifest sets no_new_privs.
func TestIsolationOOMScoreAdjAndNoNewPrivs(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	img := probeLayout(t)
	p := runProbe(t, e, img, nil, []string{"--oom-score-adj=321"})
	if p["oom_score_adj"] != "321" {
		t.Errorf("oom_score_adj = %q, want 321", p["oom_score_adj"])
	}
	rkt(t, e, insecureImage, "run", "--net=host", img, "--oom-score-adj=1001").exit(t, 254)

	uuidFile := filepath.Join(e.home, "uuid-nnp")
	rkt(t, e, insecureImage, "prepare", "--quiet", "--uuid-file-save="+uuidFile, img).ok(t)
	m := rkt(t, e, "cat-manifest", readUUID(t, uuidFile)).ok(t)
	var pm map[string]any
	if err := json.Unmarshal([]byte(m.stdout), &pm); err != nil {
		t.Fatal(err)
	}
	app := pm["apps"].([]any)[0].(map[string]any)["app"].(map[string]any)
	app["isolators"] = []any{
		map[string]any{"name": "os/linux/no-new-privileges", "value": true},
		map[string]any{"name": "os/linux/capabilities-retain-set", "value": map[string]any{"set": []string{"CAP_KILL"}}},
	}
	b, _ := json.Marshal(pm)
	mf := filepath.Join(e.home, "nnp.json")
	if err := os.WriteFile(mf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := rkt(t, e, insecureImage, "run", "--net=host", "--pod-manifest="+mf).ok(t)
	p = parseProbe(t, r.stdout)
	kill, _ := caps.ParseSet([]string{"CAP_KILL"})
	if p["nonewprivs"] != "1" || p.set(t, "capbnd") != kill {
		t.Errorf("pod manifest isolators: nonewprivs %s bounding %s", p["nonewprivs"], p["capbnd"])
	}

	app["isolators"] = []any{map[string]any{"name": "os/linux/capabilities-retain-set", "value": map[string]any{"set": []string{"CAP_NOPE"}}}}
	b, _ = json.Marshal(pm)
	if err := os.WriteFile(mf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = rkt(t, e, insecureImage, "run", "--net=host", "--pod-manifest="+mf).exit(t, 254)
	if !strings.Contains(r.stderr, "CAP_NOPE") {
		t.Errorf("bad isolator: %s", r.stderr)
	}
}

// TestEnterHasTheAppsLimits: a command entered into an app gets the app's
// user and capability bounding set, never more.
func TestEnterHasTheAppsLimits(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	p := startPod(t, e, []string{insecureImage}, "--net=host", img, "--user=65534", "--caps-retain=CAP_NET_BIND_SERVICE",
		"--exec=/bin/sleep", "--", "30")
	uuid := p.uuid
	r := rkt(t, e, "enter", uuid, "/bin/sh", "-c", "id -u; grep -E '^(Cap(Bnd|Eff)|NoNewPrivs|Seccomp):' /proc/self/status").ok(t)
	// The entered command is in the app's cgroups.
	app := rkt(t, e, "enter", uuid, "/bin/sh", "-c", "cat /proc/1/cgroup >/dev/null 2>&1; for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = sleep ] && cat $p/cgroup; done; echo ---; cat /proc/self/cgroup").ok(t)
	appCg, selfCg, _ := strings.Cut(app.stdout, "---\n")
	if strings.TrimSpace(appCg) == "" || strings.TrimSpace(appCg) != strings.TrimSpace(selfCg) {
		t.Errorf("the entered command's cgroups differ from the app's:\napp:\n%s\nentered:\n%s", appCg, selfCg)
	}
	want := fmt.Sprintf("65534\nCapEff:\t%016x\nCapBnd:\t%016x\nNoNewPrivs:\t1\nSeccomp:\t2\n", 0, uint64(1)<<10)
	if r.stdout != want {
		t.Errorf("entered command saw:\n%s\nwant:\n%s\n(run stdout %s stderr %s)", r.stdout, want, p.stdout, p.stderr)
	}
}

// bgPod is a `rkt run` started in the background by startPod.
type bgPod struct {
	uuid           string
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
}

var bgPods atomic.Int64

// startPod starts `rkt <global flags> <flags> run --uuid-file-save=F
// <runArgs>`, waits until its pod is ready and returns it; the test's
// cleanup kills it if it still runs.
func startPod(t *testing.T, e *env, flags []string, runArgs ...string) *bgPod {
	t.Helper()
	uuidFile := filepath.Join(e.home, fmt.Sprintf("bg-uuid-%d", bgPods.Add(1)))
	args := append(append(e.globalFlags(), flags...), "run", "--uuid-file-save="+uuidFile)
	cmd, stdout, stderr, cancel := rktCommand(e, append(args, runArgs...)...)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	})
	return &bgPod{uuid: waitRunning(t, e, uuidFile), cmd: cmd, stdout: stdout, stderr: stderr}
}

// waitRunning waits for the UUID file of a starting rkt run and for its
// pod to be ready, and returns the UUID.
func waitRunning(t *testing.T, e *env, uuidFile string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !fileExists(uuidFile) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	uuid := readUUID(t, uuidFile)
	rkt(t, e, "status", "--wait-ready=20s", uuid).ok(t)
	return uuid
}
