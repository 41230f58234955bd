package pod

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// mkPod creates an empty pod directory in phase ph and returns its UUID.
func mkPod(t testing.TB, dataDir string, ph phase) string {
	t.Helper()
	id, err := NewUUID()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(podPath(dataDir, ph, id), 0o750); err != nil {
		t.Fatal(err)
	}
	return id
}

// lockInProcess locks a pod directory through a new open file description
// of this process, released at the end of the test.
func lockInProcess(t *testing.T, path string, how int) {
	t.Helper()
	fd, err := openDir(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Flock(fd, how|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, dataDir, uuid string) *Pod {
	t.Helper()
	p, err := LoadUUID(dataDir, uuid)
	if err != nil {
		t.Fatalf("LoadUUID(%s): %v", uuid, err)
	}
	return p
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := NewUUID()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidUUID(id) {
			t.Fatalf("NewUUID() = %q: not canonical", id)
		}
		if id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("NewUUID() = %q: not version 4 / RFC 4122 variant", id)
		}
		if seen[id] {
			t.Fatalf("duplicate UUID %q", id)
		}
		seen[id] = true
	}
}

func TestValidUUID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"6f2e3d1c-1b2a-4c3d-8e4f-0123456789ab", true},
		{"6F2E3D1C-1B2A-4C3D-8E4F-0123456789AB", false},
		{"6f2e3d1c1b2a4c3d8e4f0123456789ab", false},
		{"6f2e3d1c-1b2a-4c3d-8e4f-0123456789a", false},
		{"6f2e3d1c-1b2a-4c3d-8e4f-0123456789abc", false},
		{"6f2e3d1c-1b2a-4c3d-8e4f_0123456789ab", false},
		{"6f2e3d1g-1b2a-4c3d-8e4f-0123456789ab", false},
		{"../../../../../../etc/passwd-00000000", false},
		{"", false},
	} {
		if got := ValidUUID(tc.in); got != tc.want {
			t.Errorf("ValidUUID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestResolveUUID(t *testing.T) {
	dir := t.TempDir()
	ids := map[phase]string{
		phasePrepare:       "aaaaaaaa-0000-4000-8000-000000000001",
		phasePrepared:      "aaaaaaaa-0000-4000-8000-000000000002",
		phaseRun:           "bbbbbbbb-0000-4000-8000-000000000003",
		phaseExitedGarbage: "cccccccc-0000-4000-8000-000000000004",
		phaseEmbryo:        "dddddddd-0000-4000-8000-000000000005",
		phaseGarbage:       "eeeeeeee-0000-4000-8000-000000000006",
	}
	for ph, id := range ids {
		if err := os.MkdirAll(podPath(dir, ph, id), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   string
		err    string
		kind   errdefs.Kind
	}{
		{prefix: "", err: "UUID cannot be empty", kind: errdefs.KindInvalidArgument},
		{prefix: "f", err: `no matches found for "f"`, kind: errdefs.KindNotFound},
		{prefix: "a", err: "ambiguous uuid, 2 matches", kind: errdefs.KindInvalidArgument},
		{prefix: "aaaaaaaa-0000-4000-8000-00000000000", err: "ambiguous uuid, 2 matches", kind: errdefs.KindInvalidArgument},
		{prefix: "aaaaaaaa-0000-4000-8000-000000000001", want: ids[phasePrepare]},
		{prefix: "AAAAAAAA-0000-4000-8000-000000000002", want: ids[phasePrepared]},
		{prefix: "b", want: ids[phaseRun]},
		{prefix: "cc", want: ids[phaseExitedGarbage]},
		// embryo and garbage pods are not resolvable, as in rkt.
		{prefix: "d", err: `no matches found for "d"`, kind: errdefs.KindNotFound},
		{prefix: "E", err: `no matches found for "e"`, kind: errdefs.KindNotFound},
		{prefix: "b/../a", err: `no matches found for "b/../a"`, kind: errdefs.KindNotFound},
	} {
		got, err := ResolveUUID(dir, tc.prefix)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errdefs.Is(err, tc.kind) {
				t.Errorf("ResolveUUID(%q) = %q, %v; want error %q (%v)", tc.prefix, got, err, tc.err, tc.kind)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveUUID(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
		}
		p, err := Load(dir, tc.prefix)
		if err != nil || p.UUID != tc.want {
			t.Errorf("Load(%q) = %v, %v", tc.prefix, p, err)
		}
	}
	if _, err := Load(t.TempDir(), "abc"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("Load in an empty data dir: %v", err)
	}
	if _, err := LoadUUID(dir, "../x"); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Errorf("LoadUUID(invalid): %v", err)
	}
	if _, err := LoadUUID(dir, "ffffffff-0000-4000-8000-000000000006"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("LoadUUID(missing): %v", err)
	}
}

// TestStates checks every state, with the lock held in this process (a
// separate open file description) and by another process.
func TestStates(t *testing.T) {
	cases := []struct {
		ph     phase
		locked bool
		want   State
	}{
		{phaseEmbryo, false, StateEmbryo},
		{phasePrepare, true, StatePreparing},
		{phasePrepare, false, StateAbortedPrepare},
		{phasePrepared, false, StatePrepared},
		{phaseRun, true, StateRunning},
		{phaseRun, false, StateExited},
		{phaseExitedGarbage, true, StateExitedDeleting},
		{phaseExitedGarbage, false, StateExitedGarbage},
		{phaseGarbage, true, StateDeleting},
		{phaseGarbage, false, StateGarbage},
	}
	for _, holder := range []string{"process", "subprocess"} {
		for _, tc := range cases {
			t.Run(holder+"/"+string(tc.want), func(t *testing.T) {
				dir := t.TempDir()
				id := mkPod(t, dir, tc.ph)
				path := podPath(dir, tc.ph, id)
				if tc.locked {
					if holder == "process" {
						lockInProcess(t, path, unix.LOCK_EX)
					} else {
						startHelper(t, "lock-ex", path)
					}
				}
				p := mustLoad(t, dir, id)
				if p.State != tc.want || p.Dir != path {
					t.Fatalf("state %q at %s, want %q at %s", p.State, p.Dir, tc.want, path)
				}
				// The probe released its lock: an exclusive lock is free
				// unless the test holds one.
				fd, err := openDir(path)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				if free, _ := tryLock(fd, unix.LOCK_EX); free == tc.locked {
					t.Fatalf("exclusive lock free = %v after probing", free)
				}
			})
		}
	}
}

func TestTransitions(t *testing.T) {
	dir := t.TempDir()
	p, err := NewEmbryo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != StateEmbryo || p.Dir != podPath(dir, phaseEmbryo, p.UUID) {
		t.Fatalf("NewEmbryo: %+v", p)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "pod-created")); err != nil {
		t.Fatal(err)
	}
	for ph := range numPhases {
		if fi, err := os.Stat(phaseDir(dir, ph)); err != nil || !fi.IsDir() {
			t.Fatalf("state dir %s: %v", phaseDirs[ph], err)
		}
	}
	check := func(want State, ph phase) {
		t.Helper()
		q := mustLoad(t, dir, p.UUID)
		if q.State != want || q.Dir != podPath(dir, ph, p.UUID) {
			t.Fatalf("loaded %q at %s, want %q in %s", q.State, q.Dir, want, phaseDirs[ph])
		}
		if p.State != want || p.Dir != q.Dir {
			t.Fatalf("pod says %q at %s, want %q at %s", p.State, p.Dir, want, q.Dir)
		}
	}
	check(StateEmbryo, phaseEmbryo)

	// Transitions out of order fail and change nothing.
	if err := p.ToPrepared(); err == nil {
		t.Fatal("embryo → prepared succeeded")
	}
	if _, err := p.ToRun(); err == nil {
		t.Fatal("embryo → run succeeded")
	}
	if err := p.ToExitedGarbage(); err == nil {
		t.Fatal("embryo → exited-garbage succeeded")
	}
	check(StateEmbryo, phaseEmbryo)

	if err := p.ToPreparing(); err != nil {
		t.Fatal(err)
	}
	check(StatePreparing, phasePrepare)
	if err := p.ToPreparing(); err == nil {
		t.Fatal("ToPreparing twice succeeded")
	}
	// Another Pod value for the same pod cannot make it prepared or run.
	other := mustLoad(t, dir, p.UUID)
	if err := other.ToPrepared(); err == nil {
		t.Fatal("ToPrepared by a non-owner succeeded")
	}
	if _, err := other.ToRun(); err == nil {
		t.Fatal("ToRun of a preparing pod by a non-owner succeeded")
	}
	if err := other.ToGarbage(); err == nil {
		t.Fatal("ToGarbage of a preparing pod succeeded")
	}

	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	check(StatePrepared, phasePrepared)

	// run-prepared from another Pod value (as another rkt process would).
	q := mustLoad(t, dir, p.UUID)
	lock, err := q.ToRun()
	if err != nil {
		t.Fatal(err)
	}
	p = q
	check(StateRunning, phaseRun)
	// The lock is close-on-exec until Inheritable.
	flags, err := unix.FcntlInt(lock.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("lock fd flags %#x, %v: want close-on-exec", flags, err)
	}
	fd, err := Inheritable(lock)
	if err != nil || fd != int(lock.Fd()) {
		t.Fatalf("Inheritable = %d, %v", fd, err)
	}
	if flags, _ := unix.FcntlInt(lock.Fd(), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC != 0 {
		t.Fatal("Inheritable left FD_CLOEXEC set")
	}
	if err := p.ToExitedGarbage(); !errors.Is(err, ErrRunning) {
		t.Fatalf("ToExitedGarbage of a running pod: %v", err)
	}
	if err := p.ToGarbage(); err == nil {
		t.Fatal("ToGarbage of a running pod succeeded")
	}
	if err := lock.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Refresh(); err != nil {
		t.Fatal(err)
	}
	check(StateExited, phaseRun)
	if !p.GCMarkedAt().IsZero() {
		t.Fatal("GCMarkedAt of an unmarked pod")
	}
	before := time.Now().Add(-time.Second)
	if err := p.ToExitedGarbage(); err != nil {
		t.Fatal(err)
	}
	check(StateExitedGarbage, phaseExitedGarbage)
	if m := mustLoad(t, dir, p.UUID).GCMarkedAt(); m.Before(before) || m.After(time.Now().Add(time.Second)) {
		t.Fatalf("GCMarkedAt = %v", m)
	}
	if err := p.ToExitedGarbage(); err == nil {
		t.Fatal("ToExitedGarbage twice succeeded")
	}
}

func TestRunSkippingPrepared(t *testing.T) {
	dir := t.TempDir()
	p, err := NewEmbryo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ToPreparing(); err != nil {
		t.Fatal(err)
	}
	lock, err := p.ToRun()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if q := mustLoad(t, dir, p.UUID); q.State != StateRunning || p.State != StateRunning {
		t.Fatalf("state %q / %q", q.State, p.State)
	}
	// The Pod no longer owns the lock: Close must not release it.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if q := mustLoad(t, dir, p.UUID); q.State != StateRunning {
		t.Fatalf("after Close: %q", q.State)
	}
}

func TestToGarbage(t *testing.T) {
	for _, tc := range []struct {
		ph     phase
		locked bool
		ok     bool
	}{
		{phasePrepare, false, true},
		{phasePrepare, true, false},
		{phasePrepared, false, true},
		{phasePrepared, true, false}, // being run by run-prepared
		{phaseRun, false, false},
		{phaseExitedGarbage, false, false},
	} {
		dir := t.TempDir()
		id := mkPod(t, dir, tc.ph)
		p := mustLoad(t, dir, id)
		if tc.locked {
			h := startHelper(t, "lock-ex", p.Dir)
			defer h.kill()
		}
		err := p.ToGarbage()
		if (err == nil) != tc.ok {
			t.Errorf("%s locked=%v: ToGarbage: %v", phaseDirs[tc.ph], tc.locked, err)
			continue
		}
		wantPh := tc.ph
		if tc.ok {
			wantPh = phaseGarbage
		}
		if q := mustLoad(t, dir, id); q.phase != wantPh {
			t.Errorf("%s locked=%v: now in %s", phaseDirs[tc.ph], tc.locked, phaseDirs[q.phase])
		}
	}
}

// TestCrossProcessRun: a pod run by another process is running while that
// process lives, and exited after; gc and rm leave it alone while it runs.
func TestCrossProcessRun(t *testing.T) {
	dir := t.TempDir()
	h := startHelper(t, "run", dir)
	p, err := Load(dir, h.line[:8])
	if err != nil {
		t.Fatal(err)
	}
	if p.State != StateRunning {
		t.Fatalf("state %q", p.State)
	}
	if pid, err := p.PID(); err != nil || pid != h.cmd.Process.Pid {
		t.Fatalf("PID = %d, %v; want %d", pid, err, h.cmd.Process.Pid)
	}
	if pid, err := p.WaitPID(context.Background()); err != nil || pid != h.cmd.Process.Pid {
		t.Fatalf("WaitPID = %d, %v", pid, err)
	}
	if _, ok, err := p.StartedAt(); !ok || err != nil {
		t.Fatalf("StartedAt: %v %v", ok, err)
	}
	res, err := GC(dir, GCOptions{Now: func() time.Time { return time.Now().Add(1000 * time.Hour) }})
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("GC of a running pod: %+v, %v", res, err)
	}
	if _, err := p.Remove(DeleteOptions{}); !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "is currently running") {
		t.Fatalf("Remove of a running pod: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := p.WaitExited(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitExited while running: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.WaitExited(context.Background()) }()
	h.stop(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitExited did not return after the pod exited")
	}
	if p.State != StateExited {
		t.Fatalf("state after exit %q", p.State)
	}
	if _, err := p.WaitPID(context.Background()); err != nil {
		// pid file is still there: the PID of a pod that ran is known.
		t.Fatalf("WaitPID after exit: %v", err)
	}
	res, err = GC(dir, GCOptions{GracePeriod: time.Hour})
	if err != nil || strings.Join(res.Marked(), ",") != p.UUID || len(res.Kept()) != 1 {
		t.Fatalf("GC after exit: %+v, %v", res, err)
	}
}

// TestLockFDHandoff: the lock survives the exec of stage1 through
// RKT_LOCK_FD; the pod runs as long as the exec'd process lives.
func TestLockFDHandoff(t *testing.T) {
	dir := t.TempDir()
	h := startHelper(t, "exec-stage1", dir)
	p := mustLoad(t, dir, h.line)
	if p.State != StateRunning {
		t.Fatalf("state %q", p.State)
	}
	h.stop(t)
	if err := p.Refresh(); err != nil || p.State != StateExited {
		t.Fatalf("after stage1 exited: %q, %v", p.State, err)
	}
}

// TestAbortedPrepare: a preparer killed with SIGKILL leaves an aborted
// prepare, which gc collects; while it lives, gc and rm leave it alone.
func TestAbortedPrepare(t *testing.T) {
	dir := t.TempDir()
	h := startHelper(t, "prepare", dir)
	p := mustLoad(t, dir, h.line)
	if p.State != StatePreparing {
		t.Fatalf("state %q", p.State)
	}
	res, err := GC(dir, GCOptions{})
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("GC of a preparing pod: %+v, %v", res, err)
	}
	if _, err := p.Remove(DeleteOptions{}); !errors.Is(err, ErrPreparing) || !strings.Contains(err.Error(), "is currently being prepared") {
		t.Fatalf("Remove of a preparing pod: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitExited(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitExited(canceled): %v", err)
	}
	h.kill()
	if err := p.Refresh(); err != nil || p.State != StateAbortedPrepare {
		t.Fatalf("after kill -9: %q, %v", p.State, err)
	}
	if err := p.WaitExited(context.Background()); err == nil {
		t.Fatal("WaitExited of an aborted prepare succeeded")
	}
	res, err = GC(dir, GCOptions{MarkOnly: true})
	if err != nil || strings.Join(res.Marked(), ",") != p.UUID || len(res.Removed()) != 0 {
		t.Fatalf("GC --mark-only: %+v, %v", res, err)
	}
	res, err = GC(dir, GCOptions{})
	if err != nil || strings.Join(res.Removed(), ",") != p.UUID {
		t.Fatalf("GC: %+v, %v", res, err)
	}
	if _, err := os.Stat(podPath(dir, phaseGarbage, p.UUID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("aborted prepare still there: %v", err)
	}
}

func TestListBrokenEntries(t *testing.T) {
	dir := t.TempDir()
	good := map[string]State{
		mkPod(t, dir, phaseRun):      StateExited,
		mkPod(t, dir, phasePrepared): StatePrepared,
		mkPod(t, dir, phaseEmbryo):   StateEmbryo,
		mkPod(t, dir, phaseGarbage):  StateGarbage,
	}
	run := phaseDir(dir, phaseRun)
	fileID, _ := NewUUID()
	linkID, _ := NewUUID()
	for _, err := range []error{
		os.Mkdir(filepath.Join(run, "not-a-uuid"), 0o750),
		os.WriteFile(filepath.Join(run, fileID), nil, 0o640),
		os.Symlink(podPath(dir, phasePrepared, fileID), filepath.Join(run, linkID)),
		os.Mkdir(filepath.Join(run, strings.ToUpper(linkID)), 0o750),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	pods, errs := List(dir)
	if len(errs) != 4 {
		t.Errorf("errors: %v", errs)
	}
	for _, err := range errs {
		if !strings.Contains(err.Error(), "unrecognized entry") {
			t.Errorf("error %v", err)
		}
	}
	if len(pods) != len(good) {
		t.Fatalf("pods: %v", pods)
	}
	for i, p := range pods {
		if good[p.UUID] != p.State {
			t.Errorf("pod %s: %q, want %q", p.UUID, p.State, good[p.UUID])
		}
		if i > 0 && pods[i-1].UUID >= p.UUID {
			t.Error("not sorted")
		}
	}
	most, _ := ListIncluding(dir, IncludeMost)
	if len(most) != 2 {
		t.Errorf("ListIncluding(IncludeMost): %d pods", len(most))
	}
	if pods, errs := List(filepath.Join(dir, "nothing")); len(pods) != 0 || len(errs) != 0 {
		t.Errorf("List of a missing data dir: %v %v", pods, errs)
	}
}

// TestListWhileMoving: pods moving between state directories while List
// runs are listed exactly once, in a state consistent with their moves.
func TestListWhileMoving(t *testing.T) {
	dir := t.TempDir()
	const n = 60
	var pods []*Pod
	for range n {
		p, err := NewEmbryo(dir)
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, p := range pods {
			if err := p.ToPreparing(); err != nil {
				t.Error(err)
				return
			}
			if err := p.ToPrepared(); err != nil {
				t.Error(err)
				return
			}
			lock, err := p.ToRun()
			if err != nil {
				t.Error(err)
				return
			}
			_ = lock.Close()
			if err := p.ToExitedGarbage(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; ; i++ {
		got, errs := List(dir)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		if len(got) != n {
			t.Fatalf("listed %d pods, want %d", len(got), n)
		}
		done := true
		for _, p := range got {
			if p.State != StateExitedGarbage {
				done = false
			}
		}
		if done {
			break
		}
		if i > 100000 {
			t.Fatal("mover did not finish")
		}
	}
	wg.Wait()
}

func BenchmarkList(b *testing.B) {
	dir := b.TempDir()
	phases := []phase{phasePrepared, phaseRun, phaseExitedGarbage, phasePrepare}
	for i := range 1000 {
		id := mkPod(b, dir, phases[i%len(phases)])
		if err := os.WriteFile(filepath.Join(podPath(dir, phases[i%len(phases)], id), "pod"), make([]byte, 64<<10), 0o640); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		pods, errs := List(dir)
		if len(pods) != 1000 || len(errs) != 0 {
			b.Fatalf("%d pods, %v", len(pods), errs)
		}
	}
}

func TestDurableMove(t *testing.T) {
	for _, c := range []struct {
		from, to phase
		want     bool
	}{
		{phaseEmbryo, phasePrepare, false},
		{phasePrepare, phasePrepared, true},
		{phasePrepared, phaseRun, true},
		{phasePrepare, phaseRun, false},
		{phaseRun, phaseExitedGarbage, false},
		{phasePrepared, phaseGarbage, false},
	} {
		if got := durableMove(c.from, c.to); got != c.want {
			t.Errorf("durableMove(%s, %s) = %v, want %v", phaseDirs[c.from], phaseDirs[c.to], got, c.want)
		}
	}
}
