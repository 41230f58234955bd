package pod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// Size limits of the files read from a pod directory.
const (
	// MaxManifestSize bounds the pod manifest (and net-info.json).
	MaxManifestSize = 1 << 20
	maxIntFileSize  = 64
)

// legacyStatusDir is where rkt 1.x stage1s wrote the per-app exit codes.
const legacyStatusDir = "stage1/rootfs/rkt/status"

// pollInterval is how often WaitPID and WaitExited look again.
var pollInterval = 100 * time.Millisecond

// ErrNotReady says the pod's PID is not known yet: stage1 has not written
// its pid (or ppid) file, or the ppid process has no child yet.
var ErrNotReady = errdefs.WithKind(errdefs.KindUnavailable, errors.New("pod PID not available yet"))

// open opens a file of the pod directory (never following a symlink at the
// last component). If the pod directory moved meanwhile, it looks the pod up
// again and retries once.
func (p *Pod) open(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(p.Dir, name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if _, serr := os.Lstat(p.Dir); serr == nil || !errors.Is(serr, fs.ErrNotExist) {
		return nil, err
	}
	if rerr := p.Refresh(); rerr != nil {
		return nil, rerr
	}
	return os.OpenFile(filepath.Join(p.Dir, name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
}

// readLimited reads a whole file of the pod, failing with errdefs.TooLarge
// beyond limit bytes.
func (p *Pod) readLimited(name string, limit int64) ([]byte, error) {
	f, err := p.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if int64(len(b)) > limit {
		return nil, errdefs.TooLarge(fmt.Errorf("%s is larger than %d bytes", f.Name(), limit))
	}
	return b, nil
}

// modTime returns the mtime of a file of the pod.
func (p *Pod) modTime(name string) (time.Time, error) {
	f, err := p.open(name)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// readInt reads a file holding one decimal integer.
func (p *Pod) readInt(name string) (int, error) {
	b, err := p.readLimited(name, maxIntFileSize)
	if err != nil {
		return 0, err
	}
	return parseInt(string(b), name)
}

func parseInt(s, name string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s: not a decimal integer: %q", name, shorten(s))
	}
	return n, nil
}

func shorten(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// ManifestBytes returns the pod manifest (the "pod" file) as stored, at
// most MaxManifestSize bytes.
func (p *Pod) ManifestBytes() ([]byte, error) {
	b, err := p.readLimited(abi.PodManifest, MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("error reading pod manifest: %w", err)
	}
	return b, nil
}

// Manifest reads and parses the pod manifest.
func (p *Pod) Manifest() (*schema.PodManifest, error) {
	b, err := p.ManifestBytes()
	if err != nil {
		return nil, err
	}
	pm := &schema.PodManifest{}
	if err := pm.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("invalid pod manifest: %w", err)
	}
	return pm, nil
}

// CreatedAt returns the pod's creation time: the mtime of pod-created (of
// the manifest for pods of rkt < 1.20). As in rkt, it is the zero time for
// a pod that is not prepared, running or after run.
func (p *Pod) CreatedAt() (time.Time, error) {
	if p.State != StatePrepared && p.State != StateRunning && !p.State.AfterRun() {
		return time.Time{}, nil
	}
	t, err := p.modTime(abi.PodCreated)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return t, err
	}
	return p.modTime(abi.PodManifest)
}

// StartedAt returns when the pod started: the mtime of its pid (or ppid)
// file. ok is false when the pod has not started (not running or after
// run), or never wrote either file (a pod that failed to start).
func (p *Pod) StartedAt() (t time.Time, ok bool, err error) {
	if p.State != StateRunning && !p.State.AfterRun() {
		return time.Time{}, false, nil
	}
	var firstErr error
	for _, name := range []string{abi.PID, abi.PPID} {
		t, err := p.modTime(name)
		if err == nil {
			return t, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	return time.Time{}, false, firstErr
}

// PID returns the host PID of the pod's PID 1: the content of the pid
// file, else the single child of the process named in the ppid file (rkt
// 1.x's alternative). ErrNotReady means neither is available yet.
func (p *Pod) PID() (int, error) {
	pid, err := p.readInt(abi.PID)
	if err == nil {
		if pid <= 0 {
			return 0, fmt.Errorf("pod %q: invalid pid %d", p.UUID, pid)
		}
		return pid, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	ppid, err := p.readInt(abi.PPID)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotReady
	}
	if err != nil {
		return 0, err
	}
	if ppid <= 0 {
		return 0, fmt.Errorf("pod %q: invalid ppid %d", p.UUID, ppid)
	}
	return childPID("/proc", ppid)
}

// childPID returns the only child of ppid, from /proc/<ppid>/task/<ppid>/
// children, or by scanning every /proc/<pid>/stat where the kernel lacks
// that file (no CONFIG_PROC_CHILDREN).
func childPID(procDir string, ppid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/task/%d/children", procDir, ppid, ppid))
	if err == nil {
		kids := strings.Fields(string(b))
		switch len(kids) {
		case 0:
			return 0, ErrNotReady
		case 1:
			pid, err := strconv.Atoi(kids[0])
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("children of pid %d: unexpected %q", ppid, kids[0])
			}
			return pid, nil
		default:
			return 0, fmt.Errorf("too many children of pid %d", ppid)
		}
	}
	if _, serr := os.Stat(fmt.Sprintf("%s/%d", procDir, ppid)); serr != nil {
		// The ppid process is gone (or not yet there).
		return 0, ErrNotReady
	}
	if _, serr := os.Stat(procDir + "/1/task/1/children"); serr == nil {
		return 0, ErrNotReady
	}
	return scanChildren(procDir, ppid)
}

// scanChildren finds the only child of ppid by reading every /proc/*/stat.
func scanChildren(procDir string, ppid int) (int, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return 0, err
	}
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procDir, pid))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil && pp == ppid {
			kids = append(kids, pid)
		}
	}
	switch len(kids) {
	case 0:
		return 0, ErrNotReady
	case 1:
		return kids[0], nil
	default:
		return 0, fmt.Errorf("too many children of pid %d", ppid)
	}
}

// WaitPID waits for the pod's PID (see PID), looking again every 100ms. It
// fails when the pod stops being on its way to run or running, or when ctx
// is done.
func (p *Pod) WaitPID(ctx context.Context) (int, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		pid, err := p.PID()
		if err == nil || !errors.Is(err, ErrNotReady) {
			return pid, err
		}
		if err := p.Refresh(); err != nil {
			return 0, err
		}
		switch p.State {
		case StateEmbryo, StatePreparing, StateRunning:
		default:
			return 0, fmt.Errorf("pod %q is not running anymore (%s)", p.UUID, p.State)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// WaitExited waits until the pod has exited (an unlocked pod in run/, or
// one gc marked or is deleting), looking again every 100ms. A pod that
// will never run (aborted, garbage) is an error, as is one that is gone
// without having been seen running or exited.
func (p *Pod) WaitExited(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	ran := false
	for {
		if err := p.Refresh(); err != nil {
			if ran && errdefs.Is(err, errdefs.KindNotFound) {
				return nil
			}
			return err
		}
		switch p.State {
		case StateExited, StateExitedGarbage, StateExitedDeleting:
			return nil
		case StateAbortedPrepare, StateGarbage, StateDeleting:
			return fmt.Errorf("pod %q will not run: %s", p.UUID, p.State)
		case StateRunning:
			ran = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// AppExitCodes returns the exit code of every app that exited, by app
// name, from the status files stage1 writes (abi.StatusDir; rkt 1.x's
// stage1/rootfs/rkt/status is read when that does not exist). An empty
// map means no app has exited. Unreadable status files are reported in
// the error; the codes that could be read are returned with it.
func (p *Pod) AppExitCodes() (map[string]int, error) {
	codes := make(map[string]int)
	dir := abi.StatusDir
	d, err := p.open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		dir = legacyStatusDir
		d, err = p.open(dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return codes, nil
	}
	if err != nil {
		return codes, fmt.Errorf("read app status: %w", err)
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return codes, fmt.Errorf("read app status: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		n, err := p.readInt(dir + "/" + e.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("app %q status: %w", e.Name(), err))
			continue
		}
		codes[e.Name()] = n
	}
	return codes, errors.Join(errs...)
}

// NetInfoJSON returns net-info.json as stored (at most MaxManifestSize
// bytes), or nil when the pod has none (it never ran, or runs with
// --net=host).
func (p *Pod) NetInfoJSON() ([]byte, error) {
	b, err := p.readLimited(abi.NetInfo, MaxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// GCMarkedAt returns when gc marked the pod: the ctime of its directory
// (set by the rename) while it is in exited-garbage/ or garbage/, else the
// zero time.
func (p *Pod) GCMarkedAt() time.Time {
	switch p.phase {
	case phaseExitedGarbage, phaseGarbage:
		return p.ctime
	}
	return time.Time{}
}

// ReadUUIDFile reads a pod UUID from a file (rkt's --uuid-file), trimming
// white space; it reads at most 1 KiB.
func ReadUUIDFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
