package pod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// exitedPod makes an exited pod (unlocked, in run/) with a manifest-less
// directory and returns it.
func exitedPod(t *testing.T, dir string) *Pod {
	t.Helper()
	return mustLoad(t, dir, mkPod(t, dir, phaseRun))
}

func TestGCMarkAndSweep(t *testing.T) {
	dir := t.TempDir()
	exited := exitedPod(t, dir).UUID
	prepared := mkPod(t, dir, phasePrepared)
	aborted := mkPod(t, dir, phasePrepare)
	garbage := mkPod(t, dir, phaseGarbage)
	embryo := mkPod(t, dir, phaseEmbryo)
	start := time.Now()
	clock := start
	now := func() time.Time { return clock }
	var removed []string
	var events []GCEvent
	opts := GCOptions{
		DeleteOptions: DeleteOptions{
			RemoveAll: func(path string) error {
				removed = append(removed, filepath.Base(path))
				return os.RemoveAll(path)
			},
			OnEvent: func(e GCEvent) { events = append(events, e) },
		},
		GracePeriod:    30 * time.Minute,
		ExpirePrepared: 24 * time.Hour,
		ExpireEmbryo:   time.Hour,
		Now:            now,
	}

	// --mark-only: exited and aborted pods are marked, nothing else.
	mo := opts
	mo.MarkOnly = true
	res, err := GC(dir, mo)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Marked(); !slices.Equal(got, []string{exited, aborted}) {
		t.Fatalf("mark-only marked %v", got)
	}
	if len(removed) != 0 || len(res.Removed()) != 0 {
		t.Fatalf("mark-only removed %v", removed)
	}
	if st := mustLoad(t, dir, exited).State; st != StateExitedGarbage {
		t.Fatalf("exited pod now %q", st)
	}
	if st := mustLoad(t, dir, aborted).State; st != StateGarbage {
		t.Fatalf("aborted pod now %q", st)
	}
	if msg, stdout := res.Events[0].Message(); msg != fmt.Sprintf("moving pod %q to garbage", exited) || stdout {
		t.Fatalf("message %q", msg)
	}
	if msg, _ := res.Events[1].Message(); msg != fmt.Sprintf("moving failed prepare %q to garbage", aborted) {
		t.Fatalf("message %q", msg)
	}
	if len(events) != len(res.Events) {
		t.Fatalf("OnEvent saw %d events, result has %d", len(events), len(res.Events))
	}

	// Within the grace period: garbage goes, exited garbage stays.
	res, err = GC(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Removed(); !slices.Equal(sorted(got), sorted([]string{aborted, garbage})) {
		t.Fatalf("removed %v", got)
	}
	if got := res.Kept(); !slices.Equal(got, []string{exited}) {
		t.Fatalf("kept %v", got)
	}
	for _, e := range res.Events {
		if e.Action == Kept {
			if msg, _ := e.Message(); msg != fmt.Sprintf("pod %q not removed: still within grace period (30m0s)", exited) {
				t.Fatalf("message %q", msg)
			}
		}
		if e.Action == Collecting {
			if msg, stdout := e.Message(); !stdout || !strings.HasPrefix(msg, "Garbage collecting pod \"") {
				t.Fatalf("message %q", msg)
			}
		}
	}

	// 31 minutes later: the exited pod goes; 2h: the embryo; 25h: the
	// prepared pod.
	clock = start.Add(31 * time.Minute)
	res, err = GC(dir, opts)
	if err != nil || !slices.Equal(res.Removed(), []string{exited}) {
		t.Fatalf("after the grace period: %+v, %v", res, err)
	}
	clock = start.Add(2 * time.Hour)
	res, err = GC(dir, opts)
	if err != nil || !slices.Equal(res.Removed(), []string{embryo}) || !slices.Equal(res.Marked(), []string{embryo}) {
		t.Fatalf("embryo expiry: %+v, %v", res, err)
	}
	clock = start.Add(25 * time.Hour)
	res, err = GC(dir, opts)
	if err != nil || !slices.Equal(res.Removed(), []string{prepared}) {
		t.Fatalf("prepared expiry: %+v, %v", res, err)
	}
	if msg, _ := res.Events[0].Message(); msg != fmt.Sprintf("moving expired prepared pod %q to garbage", prepared) {
		t.Fatalf("message %q", msg)
	}
	if pods, errs := List(dir); len(pods) != 0 || len(errs) != 0 {
		t.Fatalf("left: %v %v", pods, errs)
	}
	if len(removed) != 5 {
		t.Fatalf("RemoveAll called for %v", removed)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestGCGraceZero: with a zero grace period, exited pods are marked and
// swept in one pass (and the default RemoveAll is used).
func TestGCGraceZero(t *testing.T) {
	dir := t.TempDir()
	p := exitedPod(t, dir)
	if err := os.MkdirAll(filepath.Join(p.Dir, "stage1/rkt/status"), 0o750); err != nil {
		t.Fatal(err)
	}
	res, err := GC(dir, GCOptions{Now: func() time.Time { return time.Now().Add(time.Second) }})
	if err != nil || !slices.Equal(res.Removed(), []string{p.UUID}) || !slices.Equal(res.Marked(), []string{p.UUID}) {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, err := os.Stat(podPath(dir, phaseExitedGarbage, p.UUID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pod dir still there: %v", err)
	}
}

func TestGCBeforeDelete(t *testing.T) {
	dir := t.TempDir()
	p := exitedPod(t, dir)
	never := mkPod(t, dir, phaseGarbage)
	seen := map[string]State{}
	fail := true
	opts := GCOptions{
		DeleteOptions: DeleteOptions{BeforeDelete: func(q *Pod) error {
			seen[q.UUID] = q.State
			// The pod is locked while the hook runs.
			if st := mustLoad(t, dir, q.UUID).State; st != q.State {
				t.Errorf("hook: pod loads as %q, hook got %q", st, q.State)
			}
			if fail {
				return errors.New("stage1 gc failed")
			}
			return nil
		}},
		Now: func() time.Time { return time.Now().Add(time.Minute) },
	}
	res, err := GC(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed()) != 0 || len(res.Errors()) != 2 {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(res.Errors()[0].Error(), "stage1 gc failed") {
		t.Fatal(res.Errors()[0])
	}
	if seen[p.UUID] != StateExitedDeleting || seen[never] != StateDeleting {
		t.Fatalf("hook saw %v", seen)
	}
	// Kept for the next gc, unlocked again.
	if st := mustLoad(t, dir, p.UUID).State; st != StateExitedGarbage {
		t.Fatalf("kept pod is %q", st)
	}
	if st := mustLoad(t, dir, never).State; st != StateGarbage {
		t.Fatalf("kept pod is %q", st)
	}
	fail = false
	res, err = GC(dir, opts)
	if err != nil || len(res.Removed()) != 2 || len(res.Errors()) != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestGCRemoveAllError(t *testing.T) {
	dir := t.TempDir()
	id := mkPod(t, dir, phaseGarbage)
	res, err := GC(dir, GCOptions{DeleteOptions: DeleteOptions{RemoveAll: func(string) error { return errors.New("busy") }}})
	if err != nil || len(res.Errors()) != 1 || !strings.Contains(res.Errors()[0].Error(), "busy") {
		t.Fatalf("%+v, %v", res, err)
	}
	if st := mustLoad(t, dir, id).State; st != StateGarbage {
		t.Fatalf("pod is %q", st)
	}
}

// TestGCSkipsLocked: pods locked by another process (another gc deleting
// them, run-prepared taking a prepared pod) are not touched.
func TestGCSkipsLocked(t *testing.T) {
	dir := t.TempDir()
	ids := []string{mkPod(t, dir, phaseGarbage), mkPod(t, dir, phaseExitedGarbage), mkPod(t, dir, phasePrepared)}
	for i, id := range ids {
		ph := []phase{phaseGarbage, phaseExitedGarbage, phasePrepared}[i]
		startHelper(t, "lock-ex", podPath(dir, ph, id))
	}
	res, err := GC(dir, GCOptions{Now: func() time.Time { return time.Now().Add(1000 * time.Hour) }})
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	for _, id := range ids {
		mustLoad(t, dir, id)
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ph     phase
		lock   bool
		err    error
		events []GCAction
	}{
		{"exited", phaseRun, false, nil, []GCAction{MarkedExited, Collecting, Removed}},
		{"prepared", phasePrepared, false, nil, []GCAction{MarkedExpired, Collecting, Removed}},
		{"aborted", phasePrepare, false, nil, []GCAction{MarkedAborted, Collecting, Removed}},
		{"exited garbage", phaseExitedGarbage, false, nil, []GCAction{Collecting, Removed}},
		{"garbage", phaseGarbage, false, nil, []GCAction{Collecting, Removed}},
		{"running", phaseRun, true, ErrRunning, nil},
		{"preparing", phasePrepare, true, ErrPreparing, nil},
		{"embryo", phaseEmbryo, false, ErrPreparing, nil},
		{"deleting", phaseGarbage, true, ErrDeleting, nil},
		{"exited deleting", phaseExitedGarbage, true, ErrDeleting, nil},
		{"prepared, being run", phasePrepared, true, ErrLocked, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			id := mkPod(t, dir, tc.ph)
			if tc.lock {
				startHelper(t, "lock-ex", podPath(dir, tc.ph, id))
			}
			p := mustLoad(t, dir, id)
			var hooked bool
			res, err := p.Remove(DeleteOptions{BeforeDelete: func(*Pod) error { hooked = true; return nil }})
			if !errors.Is(err, tc.err) {
				t.Fatalf("Remove: %v, want %v", err, tc.err)
			}
			var got []GCAction
			for _, e := range res.Events {
				got = append(got, e.Action)
			}
			if !slices.Equal(got, tc.events) {
				t.Fatalf("events %v, want %v", got, tc.events)
			}
			_, lerr := LoadUUID(dir, id)
			if tc.err == nil {
				if !hooked || lerr == nil {
					t.Fatalf("hook ran %v, pod still there: %v", hooked, lerr)
				}
			} else if hooked || lerr != nil {
				t.Fatalf("refused, but hook ran %v or pod gone: %v", hooked, lerr)
			}
		})
	}
}

// TestGCBindMount: a bind mount of a host directory left inside a pod
// directory is unmounted, never deleted through (SECURITY.md rule 10).
// Needs root; runs in a private mount namespace.
func TestGCBindMount(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	base := t.TempDir()
	cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=bindmount", "POD_TEST_ARG="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "SKIP") {
		t.Skip(string(out))
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Skipf("cannot start a process in a new mount namespace: %v", err)
		}
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "ok") {
		t.Fatalf("helper: %s", out)
	}
	if b, err := os.ReadFile(filepath.Join(base, "host", "precious")); err != nil || string(b) != "keep me" {
		t.Fatalf("host file: %q, %v", b, err)
	}
}

func bindMountHelper(base string) int {
	fail := func(err error) int {
		fmt.Println("FAIL:", err)
		return 1
	}
	data := filepath.Join(base, "data")
	host := filepath.Join(base, "host")
	if err := os.MkdirAll(host, 0o750); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(host, "precious"), []byte("keep me"), 0o600); err != nil {
		return fail(err)
	}
	if err := initDirs(data); err != nil {
		return fail(err)
	}
	id, err := NewUUID()
	if err != nil {
		return fail(err)
	}
	target := filepath.Join(podPath(data, phaseRun, id), "stage1", "rootfs", "mnt")
	if err := os.MkdirAll(target, 0o750); err != nil {
		return fail(err)
	}
	if err := unix.Mount(host, target, "", unix.MS_BIND, ""); err != nil {
		fmt.Println("SKIP: bind mount:", err)
		return 1
	}
	res, err := GC(data, GCOptions{Now: func() time.Time { return time.Now().Add(time.Second) }})
	if err != nil {
		return fail(err)
	}
	if !slices.Equal(res.Removed(), []string{id}) {
		return fail(fmt.Errorf("removed %v, errors %v", res.Removed(), res.Errors()))
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fail(err)
	}
	if strings.Contains(string(mi), id) {
		return fail(fmt.Errorf("mount still there:\n%s", mi))
	}
	if _, err := os.Stat(filepath.Join(host, "precious")); err != nil {
		return fail(err)
	}
	fmt.Println("ok")
	return 0
}

// TestUnreadableStateDir: a state directory that cannot be read is an
// error of List (the listing goes on), of GC, and the reason a prefix found
// no match.
func TestUnreadableStateDir(t *testing.T) {
	dir := t.TempDir()
	id := mkPod(t, dir, phasePrepared)
	writeFile(t, phaseDir(dir, phaseRun), "not a directory")
	pods, errs := List(dir)
	if len(pods) != 1 || pods[0].UUID != id || len(errs) != 1 || !errors.Is(errs[0], errReadPodsDir) {
		t.Fatalf("List: %v, %v", pods, errs)
	}
	if _, err := GC(dir, DefaultGCOptions()); err == nil || !strings.Contains(err.Error(), "cannot read pods directory") {
		t.Fatalf("GC: %v", err)
	}
	_, err := Load(dir, "zz")
	if err == nil || !strings.HasPrefix(err.Error(), `no matches found for "zz" (cannot read pods directory`) {
		t.Fatalf("Load: %v", err)
	}
	if p, err := Load(dir, id[:4]); err != nil || p.UUID != id {
		t.Fatalf("Load of a readable pod: %v", err)
	}
}
