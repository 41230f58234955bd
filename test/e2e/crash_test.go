package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/internal/cgroup/layout"
)

// listedPod is one entry of rkt list --format=json.
type listedPod struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// listPods runs rkt list --format=json, which must succeed.
func listPods(t *testing.T, e *env) []listedPod {
	t.Helper()
	r := rkt(t, e, "list", "--format=json").ok(t)
	var pods []listedPod
	if err := json.Unmarshal([]byte(r.stdout), &pods); err != nil {
		t.Fatalf("rkt list --format=json: %v\n%s", err, r)
	}
	return pods
}

// statusState runs rkt status UUID, which must succeed, and returns its
// state= value and the whole output.
func statusState(t *testing.T, e *env, uuid string) (string, string) {
	t.Helper()
	r := rkt(t, e, "status", uuid).ok(t)
	for _, l := range lines(r.stdout) {
		if v, ok := strings.CutPrefix(l, "state="); ok {
			return v, r.stdout
		}
	}
	t.Fatalf("rkt status %s printed no state:\n%s", uuid, r)
	return "", ""
}

// podProcesses returns the host PIDs of the processes whose executable lies
// under e's data directory: the stage1 run process and pod init of every
// pod of e (both run from <pod>/stage1/rootfs: its run binary, which
// pod-init links to).
func podProcesses(e *env) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, de := range ents {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", de.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, e.dir+"/") {
			continue
		}
		if zombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// alive reports whether pid names a live (not zombie) process.
func alive(pid int) bool {
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		return false
	}
	return !zombie(pid)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// pidOf reads the pid file of a pod in run/ (0 when there is none yet).
func pidOf(e *env, uuid string) int {
	b, err := os.ReadFile(filepath.Join(e.dir, "pods", "run", uuid, "pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// cgroupsOfUUID lists the cgroups of pod uuid that exist, in every hierarchy
// (cgroup v1) or in the unified one.
func cgroupsOfUUID(t *testing.T, uuid string) []string {
	t.Helper()
	var out []string
	dirs := []string{layout.Mountpoint}
	if ents, err := os.ReadDir(layout.Mountpoint); err == nil {
		for _, d := range ents {
			dirs = append(dirs, filepath.Join(layout.Mountpoint, d.Name()))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, layout.PodPath(uuid))
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// podDirEntries lists what is left in every pods/<state> directory.
func podDirEntries(t *testing.T, e *env) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	ents, err := os.ReadDir(filepath.Join(e.dir, "pods"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return out
		}
		t.Fatal(err)
	}
	for _, d := range ents {
		sub, err := os.ReadDir(filepath.Join(e.dir, "pods", d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sub {
			out[d.Name()] = append(out[d.Name()], s.Name())
		}
	}
	return out
}

// checkConsistent checks, after a killed rkt has been reaped, that rkt list
// and rkt status succeed for every pod and agree with reality: a pod shown
// running has a live pid-file process (or, before pod init wrote it, a
// live stage1 process), and once every stage1 process of the pod has died
// (pod init has Pdeathsig, so it follows the killed rkt run at once) no
// pod is running or preparing any more. It returns the final states.
func checkConsistent(t *testing.T, e *env, what string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs := podProcesses(e)
		states := map[string]string{}
		busy := []string{}
		for _, p := range listPods(t, e) {
			if os.Getenv("RKT_CRASH_DEBUG") != "" {
				t.Logf("%s: listed %s %s; dirs %v", what, p.Name, p.State, podDirEntries(t, e))
			}
			st, out := statusState(t, e, p.Name)
			states[p.Name] = st
			switch st {
			case "running":
				pid := pidOf(e, p.Name)
				if (pid != 0 && !alive(pid)) || (pid == 0 && len(procs) == 0) {
					// The process may have died between status and now:
					// look once more before calling it a lie.
					if st2, out2 := statusState(t, e, p.Name); st2 == "running" {
						t.Errorf("%s: pod %s is shown running but its pid file process %d is dead (stage1 processes alive: %v)\n%s", what, p.Name, pid, procs, out2)
					}
				}
				busy = append(busy, p.Name+"="+st)
			case "preparing":
				busy = append(busy, p.Name+"="+st)
			case "exited", "prepared", "aborted prepare", "exited garbage":
			default:
				t.Errorf("%s: pod %s in unexpected state %q\n%s", what, p.Name, st, out)
			}
		}
		if len(procs) == 0 && len(busy) == 0 {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: 10 s after rkt was killed, stage1 processes %v still alive and pods %v not settled", what, procs, busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrashKill9 kills rkt run and rkt prepare with SIGKILL at random
// moments and checks that the pod store stays readable and truthful after
// every kill, and that gc returns the data directory to its baseline, with
// no mount (overlay or the read-only stage1 bind) left behind.
func TestCrashKill9(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	id := rkt(t, e, insecureImage, "fetch", img).ok(t).singleID(t)
	// The first pod imports the stage1 image into the store, which takes
	// longer than any delay below: without this run, every kill would
	// land in that import, before any pod exists.
	rkt(t, e, "run", "--net=host", id, "--exec=/bin/true").ok(t)
	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	beforeMounts := podMounts(t, e)

	seed := time.Now().UnixNano()
	if s := os.Getenv("RKT_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("RKT_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (rerun with RKT_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	const kills = 60
	counts := map[string]int{}
	for i := range kills {
		delay := time.Duration(rng.Intn(41)) * time.Millisecond
		var args []string
		kind := "run"
		switch rng.Intn(3) {
		case 0:
			kind = "prepare"
			args = []string{"prepare", "--quiet", id, "--exec=/bin/true"}
		case 1:
			args = []string{"run", "--net=host", id, "--exec=/bin/true"}
		default:
			args = []string{"run", "--net=host", id, "--exec=/bin/sleep", "--", "10"}
		}
		cmd, _, _, cancel := rktCommand(e, append(e.globalFlags(), args...)...)
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		time.Sleep(delay)
		killed := cmd.Process.Kill() == nil
		err := cmd.Wait()
		cancel()
		outcome := "finished before the kill"
		var ee interface{ ExitCode() int }
		if killed && errors.As(err, &ee) && ee.ExitCode() == -1 {
			outcome = "killed"
		}
		counts[kind+" "+outcome]++
		what := fmt.Sprintf("kill %d (%s after %v, %s)", i, strings.Join(args, " "), delay, outcome)
		checkConsistent(t, e, what)
		if t.Failed() {
			t.Fatalf("stopping after %s", what)
		}
	}
	t.Logf("outcomes: %v", counts)
	final := map[string]int{}
	for _, st := range checkConsistent(t, e, "after all kills") {
		final[st]++
	}
	before := podDirEntries(t, e)
	t.Logf("pods before gc by state: %v; directories: %v", final, before)
	withCgroups := 0
	for _, names := range before {
		for _, uuid := range names {
			if len(cgroupsOfUUID(t, uuid)) > 0 {
				withCgroups++
			}
		}
	}
	if final["exited"] > 0 && withCgroups == 0 {
		t.Errorf("%d exited pods and none has cgroups before gc: the check below would see nothing", final["exited"])
	}

	gc := rkt(t, e, "gc", "--grace-period=0s", "--expire-prepared=0s").ok(t)
	// Nor may their cgroups stay: rkt run of an image makes them while
	// it writes the pod's files, recorded in the pod directory first, so
	// a kill at any moment leaves them to gc.
	for _, names := range before {
		for _, uuid := range names {
			if left := cgroupsOfUUID(t, uuid); len(left) > 0 {
				t.Errorf("pod %s: cgroups left after gc: %v", uuid, left)
			}
		}
	}
	left := podDirEntries(t, e)
	// An embryo is left when rkt is killed between creating a pod
	// directory and locking it. gc --expire-prepared=0s expires unlocked
	// embryos at once too (they never got prepared), so none may stay.
	for state, names := range left {
		if len(names) != 0 {
			sort.Strings(names)
			t.Errorf("pods/%s not empty after gc: %v\ngc: %s", state, names, gc)
		}
	}
	if after := podMounts(t, e); after != beforeMounts {
		t.Errorf("mounts under the data dir after gc (stage1 binds or overlays outlived their pod):\n%s\nbefore:\n%s", after, beforeMounts)
	}
	if l := listPods(t, e); len(l) != 0 {
		t.Errorf("rkt list after gc: %v", l)
	}
}
