package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"

	"github.com/rkt/rkt/internal/cgroup/layout"
)

// podCgroups reads the cgroup layout of a pod of e.
func podCgroups(t *testing.T, e *env, uuid string) *layout.Layout {
	t.Helper()
	for _, state := range []string{"run", "exited-garbage"} {
		dir := filepath.Join(e.dir, "pods", state, uuid)
		if !fileExists(dir) {
			continue
		}
		l, err := layout.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			t.Fatalf("pod %s has no cgroups file", uuid)
		}
		return l
	}
	t.Fatalf("pod %s not found", uuid)
	return nil
}

// cgroupFile reads a file of an app's cgroup in the hierarchy of ctrl
// (v1) or the unified one (v2).
func cgroupFile(t *testing.T, l *layout.Layout, ctrl, app, file string) string {
	t.Helper()
	d, ok := l.Dirs[ctrl]
	if l.Version == 2 {
		d, ok = l.Dirs[""]
	}
	if !ok {
		t.Skipf("no %s cgroup controller on this host", ctrl)
	}
	b, err := os.ReadFile(filepath.Join(d, app, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCgroupLimits: each app of a pod gets its own cgroup with the limits
// of --memory, --cpu, --cpu-shares and --pids-limit; rkt's processes are in
// the pod's init cgroup; gc removes every cgroup of the pod.
func TestCgroupLimits(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	p := startPod(t, e, []string{insecureImage}, "--net=host",
		img, "--name=limited", "--memory=64Mi", "--cpu=250m", "--cpu-shares=300", "--pids-limit=25", "--exec=/bin/sleep", "--", "30",
		"---", img, "--name=free", "--exec=/bin/sleep", "--", "30")
	uuid := p.uuid
	l := podCgroups(t, e, uuid)
	if !strings.HasSuffix(l.Path, "machine-rkt-"+uuid+".scope") || len(l.Apps) != 2 {
		t.Fatalf("layout %+v", l)
	}
	if l.Version == 2 {
		for file, want := range map[string]string{"memory.max": "67108864", "cpu.max": "25000 100000", "pids.max": "25"} {
			if got := cgroupFile(t, l, "", "limited", file); got != want {
				t.Errorf("%s = %q, want %q", file, got, want)
			}
		}
		if got := cgroupFile(t, l, "", "free", "memory.max"); got != "max" {
			t.Errorf("free app memory.max = %q", got)
		}
	} else {
		for _, c := range []struct{ ctrl, file, want string }{
			{"memory", "memory.limit_in_bytes", "67108864"},
			{"cpu", "cpu.cfs_quota_us", "25000"},
			{"cpu", "cpu.shares", "300"},
			{"pids", "pids.max", "25"},
		} {
			if got := cgroupFile(t, l, c.ctrl, "limited", c.file); got != c.want {
				t.Errorf("%s = %q, want %q", c.file, got, c.want)
			}
		}
		// An app without limits has a cgroup of its own only for its
		// device rules; it counts against the pod's cgroup elsewhere.
		if fileExists(filepath.Join(l.Dirs["pids"], "free")) || fileExists(filepath.Join(l.Dirs["memory"], "free")) {
			t.Errorf("the app without limits has pids or memory cgroups: %+v", l.AppControllers)
		}
		if got := cgroupFile(t, l, "devices", "free", "devices.list"); !strings.Contains(got, "c 1:3 rw") {
			t.Errorf("free app devices.list = %q", got)
		}
	}
	// The app's process is in its cgroup, pod init in the pod's.
	ctrl := "memory"
	if l.Version == 2 {
		ctrl = ""
	}
	procs := cgroupFile(t, l, ctrl, "limited", "cgroup.procs")
	if len(strings.Fields(procs)) != 1 {
		t.Errorf("limited app's cgroup.procs: %q", procs)
	}
	pid := strings.TrimSpace(readFile(t, filepath.Join(e.dir, "pods", "run", uuid, "pid")))
	if cg := readFile(t, "/proc/"+pid+"/cgroup"); !strings.Contains(cg, l.Path) {
		t.Errorf("pod init is not in the pod's cgroups:\n%s", cg)
	}
	rkt(t, e, "stop", uuid).ok(t)
	_ = p.cmd.Wait()
	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	for _, d := range l.Dirs {
		if fileExists(d) {
			t.Errorf("cgroup %s left after gc", d)
		}
	}
}

// TestCgroupEnforced: an app past --memory is killed by the OOM killer and
// the pod says so; a fork bomb stops at --pids-limit.
func TestCgroupEnforced(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	hog := `x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived ${#x}`
	r := rkt(t, e, insecureImage, "run", "--net=host", img, "--memory=16Mi", "--exec=/bin/sh", "--", "-c", hog)
	if r.code != 137 || !strings.Contains(r.stderr, "OOM killer") || strings.Contains(r.stdout, "survived") {
		t.Errorf("memory hog under --memory=16Mi:\n%s", r)
	}
	bomb := `i=0; while [ $i -lt 40 ]; do i=$((i+1)); sleep 5 & done; echo forked=$i`
	r = rkt(t, e, insecureImage, "run", "--net=host", img, "--pids-limit=10", "--exec=/bin/sh", "--", "-c", bomb)
	if r.code == 0 || !strings.Contains(r.stderr, "fork") {
		t.Errorf("40 processes under --pids-limit=10:\n%s", r)
	}
	r = rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/sh", "--", "-c", bomb+"; kill $(jobs -p) 2>/dev/null; exit 0").ok(t)
	if !strings.Contains(r.stdout, "forked=40") {
		t.Errorf("without a limit:\n%s", r)
	}
	for _, bad := range [][]string{{"--memory=lots"}, {"--cpu=-1"}, {"--cpu-shares=1"}, {"--pids-limit=0"}} {
		rkt(t, e, append([]string{insecureImage, "run", "--net=host", img}, bad...)...).exit(t, 254)
	}
}

// TestCgroupDevices: the device controller lets an app use the basic
// nodes and a device volume (read-only when the volume is), and refuses
// creating or opening any other device; --insecure-options=paths lifts it.
func TestCgroupDevices(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	// /dev/net/tun: not a basic node, and opening it needs no capability.
	if !fileExists("/dev/net/tun") {
		t.Skip("needs /dev/net/tun")
	}
	script := `head -c 0 /dev/null && echo null-ok; head -c 0 /tun && echo tun-read;
(: > /tun) 2>/dev/null && echo tun-write || echo tun-write-denied;
mknod /tmp/tun c 10 200 2>/dev/null && echo mknod-ok || echo mknod-denied`
	args := []string{"run", "--net=host", "--volume=tun,kind=host,source=/dev/net/tun,readOnly=true", img,
		"--mount=volume=tun,target=/tun", "--exec=/bin/sh", "--", "-c", script}
	r := rkt(t, e, append([]string{insecureImage}, args...)...).ok(t)
	for _, want := range []string{"null-ok", "tun-read", "tun-write-denied", "mknod-denied"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("default: want %s in:\n%s", want, r.stdout)
		}
	}
	r = rkt(t, e, append([]string{insecureImage + ",paths"}, args...)...).ok(t)
	for _, want := range []string{"tun-write", "mknod-ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--insecure-options=paths: want %s in:\n%s", want, r.stdout)
		}
	}
}

// TestCgroupV2Layout: on a pure cgroup v2 host, rkt's processes live in
// the pod's init child (a cgroup with children that have controllers
// holds no process), each app in its own leaf, CPU shares become a weight,
// no swap is allowed beyond the memory limit, and gc removes the tree
// (cgroup.kill included).
func TestCgroupV2Layout(t *testing.T) {
	if !fileExists("/sys/fs/cgroup/cgroup.controllers") {
		t.Skip("needs a pure cgroup v2 host (cgroup2 mounted at /sys/fs/cgroup): this one has cgroup v1 hierarchies")
	}
	e, img := podEnv(t)
	t.Parallel()
	p := startPod(t, e, []string{insecureImage}, "--net=host", img, "--memory=32Mi", "--cpu-shares=1024", "--exec=/bin/sleep", "--", "30")
	uuid := p.uuid
	l := podCgroups(t, e, uuid)
	if l.Version != 2 {
		t.Fatalf("layout on cgroup v2: %+v", l)
	}
	pod := l.Dirs[""]
	if procs := strings.TrimSpace(readFile(t, filepath.Join(pod, "cgroup.procs"))); procs != "" {
		t.Errorf("the pod cgroup holds processes: %q", procs)
	}
	if procs := strings.Fields(readFile(t, filepath.Join(pod, layout.InitName, "cgroup.procs"))); len(procs) != 2 {
		t.Errorf("init holds %v, want the run process and pod init", procs)
	}
	app := filepath.Join(pod, "busybox")
	weight := strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(1024), 10)
	for file, want := range map[string]string{"memory.max": "33554432", "cpu.weight": weight} {
		if got := strings.TrimSpace(readFile(t, filepath.Join(app, file))); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if fileExists(filepath.Join(app, "memory.swap.max")) {
		if got := strings.TrimSpace(readFile(t, filepath.Join(app, "memory.swap.max"))); got != "0" {
			t.Errorf("memory.swap.max = %q, want 0", got)
		}
	}
	rkt(t, e, "stop", "--force", uuid).ok(t)
	_ = p.cmd.Wait()
	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	if fileExists(pod) {
		t.Errorf("pod cgroup %s left after gc", pod)
	}
}
