package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentRunsAndGC starts 20 pods at once, each exiting with its own
// code after a random short sleep, while rkt gc --grace-period=0s runs in a
// loop: every rkt run must exit with its own code (a pod collected while
// it ran would fail its run: overlay or pod directory gone), every pod's
// status right after its run shows that code unless a gc already removed
// the exited pod or is removing it (state "exited deleting"), no gc fails, and the data directory ends at its
// baseline (no pod directories, no mounts).
func TestConcurrentRunsAndGC(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	id := rkt(t, e, insecureImage, "fetch", img).ok(t).singleID(t)
	beforeMounts := podMounts(t, e)

	const n = 20
	var done atomic.Bool
	gcDone := make(chan []result, 1)
	go func() {
		var runs []result
		for !done.Load() {
			cmd, stdout, stderr, cancel := rktCommand(e, append(e.globalFlags(), "gc", "--grace-period=0s")...)
			err := cmd.Run()
			cancel()
			r := result{args: []string{"gc", "--grace-period=0s"}, stdout: stdout.String(), stderr: stderr.String()}
			if err != nil {
				r.code = -1
				if cmd.ProcessState != nil {
					r.code = cmd.ProcessState.ExitCode()
				}
			}
			runs = append(runs, r)
		}
		gcDone <- runs
	}()

	type outcome struct {
		res    result
		uuid   string
		status result
	}
	outs := make([]outcome, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			uuidFile := filepath.Join(e.home, fmt.Sprintf("uuid-%d", i))
			args := append(e.globalFlags(), "run", "--net=host", "--uuid-file-save="+uuidFile, id,
				"--exec=/bin/sh", "--", "-c", fmt.Sprintf("sleep 0.$((RANDOM%%5)); exit %d", i))
			cmd, stdout, stderr, cancel := rktCommand(e, args...)
			defer cancel()
			err := cmd.Run()
			o := outcome{res: result{args: args, stdout: stdout.String(), stderr: stderr.String()}}
			if err != nil && cmd.ProcessState != nil {
				o.res.code = cmd.ProcessState.ExitCode()
			} else if err != nil {
				o.res.code = -1
			}
			if fileExists(uuidFile) {
				o.uuid = readUUID(t, uuidFile)
				cmd, stdout, stderr, cancel := rktCommand(e, append(e.globalFlags(), "status", o.uuid)...)
				defer cancel()
				err := cmd.Run()
				o.status = result{args: []string{"status", o.uuid}, stdout: stdout.String(), stderr: stderr.String()}
				if err != nil {
					o.status.code = cmd.ProcessState.ExitCode()
				}
			}
			outs[i] = o
		})
	}
	wg.Wait()
	done.Store(true)
	gcs := <-gcDone

	collected := 0
	for i := 1; i <= n; i++ {
		o := outs[i]
		if o.res.code != i {
			t.Errorf("run %d: want exit code %d:\n%s", i, i, o.res)
			continue
		}
		if o.uuid == "" {
			t.Errorf("run %d: no UUID saved", i)
			continue
		}
		switch {
		case o.status.code == 0 && strings.Contains(o.status.stdout, "state=exited deleting\n"):
			collected++ // a gc held the pod and was deleting it: its app statuses may be gone
		case o.status.code == 0:
			if !strings.Contains(o.status.stdout, fmt.Sprintf("app-busybox=%d\n", i)) {
				t.Errorf("run %d: status does not show app exit %d:\n%s", i, i, o.status)
			}
			if !strings.Contains(o.status.stdout, "state=exited") {
				t.Errorf("run %d: status after the run is not exited:\n%s", i, o.status)
			}
		case strings.Contains(o.status.stderr, "no matches found"):
			collected++ // gc removed it after it exited
		default:
			t.Errorf("run %d: status failed:\n%s", i, o.status)
		}
	}
	removed := 0
	for _, g := range gcs {
		if g.code != 0 {
			t.Errorf("a gc failed while pods ran:\n%s", g)
		}
		removed += strings.Count(g.stdout, "Garbage collecting pod")
	}
	t.Logf("%d gc runs collected %d pods while the runs went on; %d statuses came after collection", len(gcs), removed, collected)

	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	for state, names := range podDirEntries(t, e) {
		if len(names) != 0 {
			t.Errorf("pods/%s not empty after gc: %v", state, names)
		}
	}
	for i := 1; i <= n; i++ {
		if u := outs[i].uuid; u != "" {
			if left, _ := filepath.Glob("/sys/fs/cgroup/*/machine.slice/machine-rkt-" + u + ".scope"); len(left) > 0 {
				t.Errorf("pod %s: cgroups left after gc: %v", u, left)
			}
			if left, _ := filepath.Glob("/sys/fs/cgroup/machine.slice/machine-rkt-" + u + ".scope"); len(left) > 0 {
				t.Errorf("pod %s: cgroup left after gc: %v", u, left)
			}
		}
	}
	if after := podMounts(t, e); after != beforeMounts {
		t.Errorf("mounts under the data dir after gc:\n%s\nbefore:\n%s", after, beforeMounts)
	}
}
