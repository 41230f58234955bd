package pod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/stage1/abi"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestManifest(t *testing.T) {
	good, err := schema.BlankPodManifest().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content []byte
		err     string
		kind    errdefs.Kind
	}{
		{name: "valid", content: good},
		{name: "missing", err: "error reading pod manifest"},
		{name: "invalid", content: []byte(`{"acKind":"ImageManifest"}`), err: "invalid pod manifest"},
		{name: "not json", content: []byte("{"), err: "invalid pod manifest"},
		{name: "too large", content: make([]byte, MaxManifestSize+1), err: "larger than", kind: errdefs.KindTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := exitedPod(t, dir)
			if tc.content != nil {
				writeFile(t, filepath.Join(p.Dir, abi.PodManifest), string(tc.content))
			}
			pm, err := p.Manifest()
			if tc.err == "" {
				if err != nil || pm.ACKind != "PodManifest" {
					t.Fatalf("Manifest = %v, %v", pm, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || (tc.kind != errdefs.KindUnknown && !errdefs.Is(err, tc.kind)) {
				t.Fatalf("Manifest error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestFollowsMovedPod: reading a file of a pod that another process moved
// meanwhile finds it at its new place.
func TestFollowsMovedPod(t *testing.T) {
	dir := t.TempDir()
	p := exitedPod(t, dir)
	writeFile(t, filepath.Join(p.Dir, abi.NetInfo), `[]`)
	if err := mustLoad(t, dir, p.UUID).ToExitedGarbage(); err != nil {
		t.Fatal(err)
	}
	b, err := p.NetInfoJSON()
	if err != nil || string(b) != "[]" {
		t.Fatalf("NetInfoJSON = %q, %v", b, err)
	}
	if p.State != StateExitedGarbage || p.GCMarkedAt().IsZero() {
		t.Fatalf("state %q, marked %v", p.State, p.GCMarkedAt())
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := p.NetInfoJSON(); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("NetInfoJSON of a deleted pod: %v", err)
	}
}

func TestTimes(t *testing.T) {
	dir := t.TempDir()
	created := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	started := created.Add(time.Minute)

	p, err := NewEmbryo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(p.Dir, abi.PodCreated), created, created); err != nil {
		t.Fatal(err)
	}
	// Not prepared yet: no creation time, as in rkt.
	if c, err := p.CreatedAt(); err != nil || !c.IsZero() {
		t.Fatalf("CreatedAt of an embryo = %v, %v", c, err)
	}
	if err := p.ToPreparing(); err != nil {
		t.Fatal(err)
	}
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	if c, err := p.CreatedAt(); err != nil || !c.Equal(created) {
		t.Fatalf("CreatedAt = %v, %v", c, err)
	}
	if _, ok, err := p.StartedAt(); ok || err != nil {
		t.Fatalf("StartedAt of a prepared pod: %v, %v", ok, err)
	}
	lock, err := p.ToRun()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := p.StartedAt(); ok || err != nil {
		t.Fatalf("StartedAt before the pid file: %v, %v", ok, err)
	}
	if _, err := p.PID(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("PID before the pid file: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.WaitPID(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitPID: %v", err)
	}
	writeFile(t, filepath.Join(p.Dir, abi.PPID), "1\n")
	if err := os.Chtimes(filepath.Join(p.Dir, abi.PPID), started, started); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := p.StartedAt(); !ok || err != nil || !s.Equal(started) {
		t.Fatalf("StartedAt (ppid) = %v, %v, %v", s, ok, err)
	}
	writeFile(t, filepath.Join(p.Dir, abi.PID), "4242\n")
	if err := os.Chtimes(filepath.Join(p.Dir, abi.PID), started, started); err != nil {
		t.Fatal(err)
	}
	if pid, err := p.PID(); err != nil || pid != 4242 {
		t.Fatalf("PID = %d, %v", pid, err)
	}
	_ = lock.Close()
	if err := p.Refresh(); err != nil {
		t.Fatal(err)
	}
	// Pods of rkt < 1.20 have no pod-created: the manifest's mtime.
	if err := os.Remove(filepath.Join(p.Dir, abi.PodCreated)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.Dir, abi.PodManifest), "{}")
	if err := os.Chtimes(filepath.Join(p.Dir, abi.PodManifest), started, started); err != nil {
		t.Fatal(err)
	}
	if c, err := p.CreatedAt(); err != nil || !c.Equal(started) {
		t.Fatalf("CreatedAt (legacy) = %v, %v", c, err)
	}
	// An exited pod that never wrote a pid file does not become ready.
	q := exitedPod(t, dir)
	if _, err := q.WaitPID(context.Background()); err == nil || !strings.Contains(err.Error(), "not running anymore") {
		t.Fatalf("WaitPID of an exited pod: %v", err)
	}
}

func TestPIDFromPPID(t *testing.T) {
	dir := t.TempDir()
	p := exitedPod(t, dir)
	h := startHelper(t, "parent", "")
	child, err := strconv.Atoi(h.line)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.Dir, abi.PPID), strconv.Itoa(h.cmd.Process.Pid))
	if pid, err := p.PID(); err != nil || pid != child {
		t.Fatalf("PID = %d, %v; want %d", pid, err, child)
	}
	if pid, err := scanChildren("/proc", h.cmd.Process.Pid); err != nil || pid != child {
		t.Fatalf("scanChildren = %d, %v; want %d", pid, err, child)
	}
	h.stop(t)
	if _, err := p.PID(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("PID after the ppid process exited: %v", err)
	}
	writeFile(t, filepath.Join(p.Dir, abi.PPID), "garbage")
	if _, err := p.PID(); err == nil || errors.Is(err, ErrNotReady) {
		t.Fatalf("PID with a bad ppid file: %v", err)
	}
}

func TestChildPIDFakeProc(t *testing.T) {
	for _, tc := range []struct {
		name     string
		children *string
		stats    map[int]string
		want     int
		err      string
	}{
		{name: "one child", children: ptr("77 "), want: 77},
		{name: "none yet", children: ptr(""), err: "not available"},
		{name: "two", children: ptr("77 78 "), err: "too many children"},
		{name: "junk", children: ptr("x"), err: "unexpected"},
		{name: "scan", stats: map[int]string{
			10: "10 (init) S 1 10",
			77: "77 (a b) c)) S 10 77",
			78: "78 (x) S 11 78",
		}, want: 77},
		{name: "scan two", stats: map[int]string{10: "10 (p) S 1", 77: "77 (a) S 10", 79: "79 (b) S 10"}, err: "too many children"},
		{name: "scan none", stats: map[int]string{10: "10 (p) S 1"}, err: "not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := t.TempDir()
			if tc.children != nil {
				writeFile(t, filepath.Join(proc, "10/task/10/children"), *tc.children)
			}
			for pid, st := range tc.stats {
				writeFile(t, filepath.Join(proc, strconv.Itoa(pid), "stat"), st)
			}
			writeFile(t, filepath.Join(proc, "10/stat"), "10 (p) S 1")
			pid, err := childPID(proc, 10)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("childPID = %d, %v; want error %q", pid, err, tc.err)
				}
				return
			}
			if err != nil || pid != tc.want {
				t.Fatalf("childPID = %d, %v; want %d", pid, err, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestAppExitCodes(t *testing.T) {
	dir := t.TempDir()
	p := exitedPod(t, dir)
	if codes, err := p.AppExitCodes(); err != nil || len(codes) != 0 {
		t.Fatalf("no status dir: %v, %v", codes, err)
	}
	// rkt 1.x's location is read when ours is absent.
	writeFile(t, filepath.Join(p.Dir, legacyStatusDir, "old"), "9")
	if codes, err := p.AppExitCodes(); err != nil || fmt.Sprint(codes) != "map[old:9]" {
		t.Fatalf("legacy: %v, %v", codes, err)
	}
	status := filepath.Join(p.Dir, abi.StatusDir)
	writeFile(t, filepath.Join(status, "a"), "0")
	writeFile(t, filepath.Join(status, "b"), "3\n")
	writeFile(t, filepath.Join(status, "c"), "oops")
	writeFile(t, filepath.Join(status, "d"), strings.Repeat("1", 100))
	if err := os.Mkdir(filepath.Join(status, "dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	codes, err := p.AppExitCodes()
	if fmt.Sprint(codes) != "map[a:0 b:3]" {
		t.Fatalf("codes %v", codes)
	}
	if err == nil || !strings.Contains(err.Error(), `app "c"`) || !strings.Contains(err.Error(), `app "d"`) {
		t.Fatalf("error %v", err)
	}
}

func TestNetInfoAndUUIDFile(t *testing.T) {
	dir := t.TempDir()
	p := exitedPod(t, dir)
	if b, err := p.NetInfoJSON(); b != nil || err != nil {
		t.Fatalf("NetInfoJSON without a file: %q, %v", b, err)
	}
	f := filepath.Join(dir, "uuid")
	writeFile(t, f, "  "+p.UUID+"\n")
	if u, err := ReadUUIDFile(f); err != nil || u != p.UUID {
		t.Fatalf("ReadUUIDFile = %q, %v", u, err)
	}
	if _, err := ReadUUIDFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadUUIDFile(missing): %v", err)
	}
}

// TestListManyPods: 1,000 pods are listed quickly (BenchmarkList measures).
func TestListManyPods(t *testing.T) {
	dir := t.TempDir()
	for i := range 1000 {
		mkPod(t, dir, []phase{phasePrepared, phaseRun, phaseExitedGarbage}[i%3])
	}
	start := time.Now()
	pods, errs := List(dir)
	d := time.Since(start)
	if len(pods) != 1000 || len(errs) != 0 {
		t.Fatalf("%d pods, %v", len(pods), errs)
	}
	t.Logf("listed 1000 pods in %v", d)
	if d > 2*time.Second {
		t.Fatalf("List took %v", d)
	}
}
