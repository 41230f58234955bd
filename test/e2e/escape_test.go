package e2e

// Regression tests for the container escapes runtimes have shipped: each
// attempt must fail, or be contained, with the host untouched.

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/testutil"
)

// TestEscapeCgroupReleaseAgent: the cgroup v1 release_agent escape needs
// an app to mount a cgroup hierarchy; the default app cannot (no
// CAP_SYS_ADMIN, mount killed by the seccomp filter), and no host
// release_agent changes.
func TestEscapeCgroupReleaseAgent(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	agents, _ := filepath.Glob("/sys/fs/cgroup/*/release_agent")
	if len(agents) == 0 {
		t.Skip("needs a cgroup v1 hierarchy (the release_agent file is cgroup v1's)")
	}
	before := map[string]string{}
	for _, a := range agents {
		before[a] = readFile(t, a)
	}
	script := `mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg; echo mount=$?;
if [ -e /tmp/cg/release_agent ]; then echo /x > /tmp/cg/release_agent && echo WROTE; fi`
	r := rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/sh", "--", "-c", script).ok(t)
	if strings.Contains(r.stdout, "WROTE") || strings.Contains(r.stdout, "mount=0") {
		t.Errorf("the app mounted a cgroup hierarchy:\n%s", r)
	}
	for _, a := range agents {
		if got := readFile(t, a); got != before[a] {
			t.Errorf("%s changed: %q", a, got)
		}
	}
}

// TestEscapeProcExe: no process of the pod can open the executable of pod
// init or of a command being entered (CVE-2019-5736, and its enter
// variants): they are non-dumpable and the stage1 tree is a read-only
// bind. The stage1 binary is the same after the attempts.
func TestEscapeProcExe(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	attack := `end=$(($(date +%s)+4)); while [ $(date +%s) -lt $end ]; do
for p in /proc/[0-9]*; do [ "$p" = /proc/$$ ] && continue; (exec 3>>$p/exe) 2>/dev/null && echo OPENED $p $(readlink $p/exe); done; done; echo done`
	p := startPod(t, e, []string{insecureImage}, "--net=host", img, "--exec=/bin/sh", "--", "-c", attack)
	uuid, stdout := p.uuid, p.stdout
	// The rendered stage1 tree in the store: what the host binds, read-only,
	// at the pod's stage1/rootfs whenever it runs an entrypoint.
	trees, _ := filepath.Glob(filepath.Join(e.store(), "layers", "*", "rootfs", "rootfs", "stage1-ns"))
	if len(trees) != 1 {
		t.Fatalf("stage1 binaries in the store: %q, want one", trees)
	}
	// The full binary and the light one of the run entrypoint (a symlink
	// to the full one in a single-binary image).
	binaries := []string{trees[0], filepath.Join(filepath.Dir(trees[0]), "run")}
	sum := func() string {
		h := sha256.New()
		for _, b := range binaries {
			data, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(data)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	before := sum()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rkt(t, e, "enter", uuid, "/bin/sh", "-c", "sleep 0.1").ok(t)
		})
	}
	wg.Wait()
	if sum() != before {
		t.Error("the stage1 binary changed")
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("pod: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, p.stderr)
	}
	// The enters bound the stage1 tree again, concurrently: the exited
	// pod keeps none of those binds.
	if m := podMounts(t, e); strings.Contains(m, uuid) {
		t.Errorf("mounts of the exited pod left in the host's namespace:\n%s", m)
	}
	if strings.Contains(stdout.String(), "OPENED") || !strings.Contains(stdout.String(), "done") {
		t.Errorf("the app opened a process's executable for writing:\n%s", stdout)
	}
}

// TestEscapeWorkingDirMagicLink: a working directory through a magic
// link (/proc/self/fd/N, CVE-2024-21626's path to a leaked host fd) is
// refused: the app does not start.
func TestEscapeWorkingDirMagicLink(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	for _, wd := range []string{"/proc/self/fd/3", "/proc/self/cwd", "/proc/1/root"} {
		r := rkt(t, e, insecureImage, "run", "--net=host", img, "--working-dir="+wd, "--exec=/bin/pwd")
		if r.code == 0 || !strings.Contains(r.stderr, "Unable to change to working directory") {
			t.Errorf("--working-dir=%s:\n%s", wd, r)
		}
	}
}

// TestEscapeLeakedFds: fds rkt's caller leaves open (not close-on-exec)
// never reach the app.
func TestEscapeLeakedFds(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	img := probeLayout(t)
	leak, err := os.Open("/etc")
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	run, stdout, stderr, cancel := rktCommand(e, append(e.globalFlags(), insecureImage, "run", "--net=host", img)...)
	defer cancel()
	run.ExtraFiles = []*os.File{leak, leak, leak}
	if err := run.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	p := parseProbe(t, stdout.String())
	for _, fd := range strings.Fields(p["fds"]) {
		if _, target, _ := strings.Cut(fd, ":"); target == "/etc" || strings.HasPrefix(target, e.dir) {
			t.Errorf("the app has fd %s from rkt's caller", fd)
		}
	}
}

// TestEscapeSymlinkedSpecialDirs: an image whose /proc, /sys or /dev/shm
// is a symlink to a host path, or whose /dev/null is one, gets its mounts
// inside its own rootfs: nothing is created or mounted on the host.
func TestEscapeSymlinkedSpecialDirs(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	host := t.TempDir() // the host paths the image points at
	entries := slices.DeleteFunc(testutil.BusyboxEntries(t), func(te testutil.TarEntry) bool {
		return te.Name == "proc/" || te.Name == "sys/"
	})
	entries = append(entries,
		testutil.Symlink("proc", "../../../../../.."+host+"/proc"),
		testutil.Symlink("sys", host+"/sys"),
		testutil.Symlink("dev/null", host+"/null"),
		testutil.Symlink("dev/shm", "/../../.."+host+"/shm"),
	)
	img := testutil.Image(t, v1.Config{Env: []string{testutil.DefaultPathEnv}}, testutil.Layer(t, entries, "gzip"))
	dir := filepath.Join(t.TempDir(), "evil")
	testutil.WriteOCILayout(t, dir, img, "latest")
	before := podMounts(t, e)
	hostMounts := readFile(t, "/proc/self/mountinfo")
	r := rkt(t, e, insecureImage, "run", "--net=host", "oci:"+dir+":latest", "--exec=/bin/sh", "--", "-c",
		"head -c 1 /dev/null; test -r /proc/self/status && echo proc-ok")
	t.Logf("run: exit %d\n%s", r.code, r.stderr)
	time.Sleep(100 * time.Millisecond)
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Errorf("the pod created %v on the host", entries)
	}
	if strings.Contains(readFile(t, "/proc/self/mountinfo"), host) {
		t.Errorf("something is mounted under %s on the host:\n%s\nbefore:\n%s", host, readFile(t, "/proc/self/mountinfo"), hostMounts)
	}
	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	if after := podMounts(t, e); after != before {
		t.Errorf("mounts left:\n%s", after)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEscapePodInitRoot: pod init leaves its root for an empty one once
// the apps run (while it supervises them), so even an app that may trace
// it (CAP_SYS_PTRACE, and read any file) sees nothing of the host through
// /proc/1/root.
func TestEscapePodInitRoot(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	script := `sleep 0.5; ls -A /proc/1/root/; echo "rc=$?"`
	r := rkt(t, e, insecureImage, "run", "--net=host", img, "--caps-retain=CAP_SYS_PTRACE,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH",
		"--exec=/bin/sh", "--", "-c", script).ok(t)
	if strings.TrimSpace(r.stdout) != "rc=0" {
		t.Errorf("/proc/1/root from an app that may trace pod init: want an empty directory:\n%s", r)
	}
}
