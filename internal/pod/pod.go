package pod

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// Pod is one pod directory as found at some moment. UUID, State and Dir
// are a snapshot: another process may move the pod on; Refresh looks again.
// Methods that read files of the pod follow it if it moved (updating State
// and Dir). A Pod is not safe for concurrent use.
type Pod struct {
	// UUID is the pod's UUID, the name of its directory.
	UUID string
	// State is the pod's state when it was last looked at.
	State State
	// Dir is the pod directory's current path.
	Dir string

	dataDir string
	phase   phase
	ctime   time.Time // ctime of the directory when last looked at
	lock    *os.File  // the exclusive lock this Pod holds (preparing), if any
}

// DataDir returns the data directory the pod lives in.
func (p *Pod) DataDir() string { return p.dataDir }

// Close releases the lock this Pod holds, if any: the exclusive lock of a
// pod being prepared (closing it turns the pod into an aborted prepare,
// which gc removes). It does not touch the lock file ToRun returned.
func (p *Pod) Close() error {
	if p.lock == nil {
		return nil
	}
	err := p.lock.Close()
	p.lock = nil
	return err
}

// initDirs creates the state directories.
func initDirs(dataDir string) error {
	for ph := range numPhases {
		if ph == phaseEmbryo {
			continue
		}
		if err := os.MkdirAll(phaseDir(dataDir, ph), 0o750); err != nil {
			return fmt.Errorf("create pods directory: %w", err)
		}
	}
	embryo := phaseDir(dataDir, phaseEmbryo)
	err := os.Mkdir(embryo, 0o750)
	switch {
	case err == nil:
		spreadPods(dataDir)
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create pods directory: %w", err)
	}
	return nil
}

// spreadPods has pod directories, made in embryo/ (they keep their place
// through the renames that follow), each put in a block group of its own,
// so that a pod's forty inodes do not land among the last pods' freed
// ones. A hint: nothing to do where the file system has no such flag. It
// is set when embryo/ is made, and by gc for data directories made before.
func spreadPods(dataDir string) {
	_ = rootfs.SpreadNewTrees(phaseDir(dataDir, phaseEmbryo))
}

// NewEmbryo creates a pod directory with a fresh UUID in pods/embryo/,
// with its pod-created file, and returns it unlocked in state embryo.
func NewEmbryo(dataDir string) (*Pod, error) {
	if err := initDirs(dataDir); err != nil {
		return nil, err
	}
	for range 8 {
		id, err := NewUUID()
		if err != nil {
			return nil, err
		}
		dir := podPath(dataDir, phaseEmbryo, id)
		if err := os.Mkdir(dir, 0o750); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return nil, fmt.Errorf("create pod directory: %w", err)
		}
		//nolint:gosec // G302: members of the rkt group read pod metadata (rkt list), as in rkt 1.x
		f, err := os.OpenFile(filepath.Join(dir, abi.PodCreated), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			_ = os.Remove(dir)
			return nil, fmt.Errorf("create pod %q: %w", id, err)
		}
		if err := f.Close(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("create pod %q: %w", id, err)
		}
		// No fsync: an embryo lost to a power cut is no loss.
		p := &Pod{UUID: id, State: StateEmbryo, Dir: dir, dataDir: dataDir, phase: phaseEmbryo}
		if st, err := os.Lstat(dir); err == nil {
			p.ctime = ctimeOf(st)
		}
		return p, nil
	}
	return nil, errors.New("create pod directory: UUID collisions")
}

func ctimeOf(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		return time.Unix(st.Ctim.Unix())
	}
	return fi.ModTime()
}

// errMoved says the pod was not (or no longer) at the path probed.
var errMoved = errors.New("pod moved")

// probeAt looks at the pod directory path in phase ph: opens it, takes and
// releases a non-blocking shared lock where the state depends on it, and
// checks the path still names the directory it opened. errMoved means the
// pod is not there (any more).
func probeAt(path string, ph phase) (State, time.Time, error) {
	fd, err := openDir(path)
	if err != nil {
		if gone(err) {
			return "", time.Time{}, errMoved
		}
		if errors.Is(err, unix.ELOOP) {
			return "", time.Time{}, fmt.Errorf("pod %s: not a directory", path)
		}
		return "", time.Time{}, fmt.Errorf("pod %s: %w", path, err)
	}
	defer unix.Close(fd)
	locked := false
	if probed(ph) {
		free, err := tryLock(fd, unix.LOCK_SH)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("pod %s: %w", path, err)
		}
		locked = !free
	}
	same, fst, err := samePath(fd, path)
	if err != nil {
		return "", time.Time{}, err
	}
	if !same {
		return "", time.Time{}, errMoved
	}
	return stateOf(ph, locked), time.Unix(fst.Ctim.Unix()), nil
}

// locate finds pod uuid, scanning the state directories from phase from
// onward in lifecycle order. Pods only move forward, so a pod renamed
// while we look is found in a later directory; one found nowhere was
// deleted (errdefs.NotFound).
func locate(dataDir, uuid string, from phase) (*Pod, error) {
	for ph := from; ph < numPhases; ph++ {
		path := podPath(dataDir, ph, uuid)
		st, ctime, err := probeAt(path, ph)
		if errors.Is(err, errMoved) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Pod{UUID: uuid, State: st, Dir: path, dataDir: dataDir, phase: ph, ctime: ctime}, nil
	}
	return nil, errdefs.NotFound(fmt.Errorf("pod %q not found", uuid))
}

// Refresh looks at the pod again: its directory and lock may have changed.
// It returns an errdefs.NotFound error when the pod no longer exists.
func (p *Pod) Refresh() error {
	np, err := locate(p.dataDir, p.UUID, p.phase)
	if err != nil {
		return err
	}
	p.State, p.Dir, p.phase, p.ctime = np.State, np.Dir, np.phase, np.ctime
	return nil
}

// entry is a pod directory name found in a state directory.
type entry struct {
	name  string
	phase phase
}

// errReadPodsDir marks the failure to read a whole state directory.
var errReadPodsDir = errors.New("cannot read pods directory")

// listEntries returns the pod directory names found in the included state
// directories, and an error per unreadable directory or unexpected entry.

func listEntries(dataDir string, include Include) ([]entry, []error) {
	var out []entry
	var errs []error
	for ph := range numPhases {
		if !include.has(ph) {
			continue
		}
		dir := phaseDir(dataDir, ph)
		ents, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("%w: %w", errReadPodsDir, err))
			}
			continue
		}
		for _, e := range ents {
			name := e.Name()
			switch {
			case !ValidUUID(name):
				errs = append(errs, fmt.Errorf("unrecognized entry %q in %s: not a pod UUID", name, dir))
			case !e.IsDir():
				errs = append(errs, fmt.Errorf("unrecognized entry %q in %s: not a directory", name, dir))
			default:
				out = append(out, entry{name: name, phase: ph})
			}
		}
	}
	return out, errs
}

// ResolveUUID resolves a UUID or unique UUID prefix (case-insensitive)
// against the pods rkt shows (prepare, prepared, run, exited-garbage),
// with rkt's errors: `UUID cannot be empty` (errdefs.InvalidArgument),
// `no matches found for "X"` (errdefs.NotFound), `ambiguous uuid, N
// matches` (errdefs.InvalidArgument).
func ResolveUUID(dataDir, prefix string) (string, error) {
	prefix = strings.ToLower(prefix)
	if prefix == "" {
		return "", errdefs.InvalidArgument(errEmptyUUID)
	}
	ents, errs := listEntries(dataDir, IncludeMost)
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.name
	}
	id, err := matchPrefix(names, prefix)
	if errdefs.Is(err, errdefs.KindNotFound) {
		// Say why a pod may have been missed (an unreadable directory).
		for _, e := range errs {
			if errors.Is(e, errReadPodsDir) {
				return "", errdefs.NotFound(fmt.Errorf("%w (%w)", err, e))
			}
		}
	}
	return id, err
}

// Load resolves uuidOrPrefix as ResolveUUID does and looks the pod up,
// determining its state (probing its lock with a non-blocking shared lock,
// released before returning).
func Load(dataDir, uuidOrPrefix string) (*Pod, error) {
	id, err := ResolveUUID(dataDir, uuidOrPrefix)
	if err != nil {
		return nil, err
	}
	return locate(dataDir, id, phaseEmbryo)
}

// LoadUUID looks up the pod with exactly this UUID in any state directory,
// embryo and garbage included.
func LoadUUID(dataDir, uuid string) (*Pod, error) {
	if !ValidUUID(uuid) {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid pod UUID %q", uuid))
	}
	return locate(dataDir, uuid, phaseEmbryo)
}

// List returns every pod in every state directory, sorted by UUID. Entries
// that cannot be read or are not pods are reported as errors and do not
// stop the listing (rkt list prints them after its table). Only the
// directories and their locks are looked at; files are read lazily.
func List(dataDir string) ([]*Pod, []error) {
	return ListIncluding(dataDir, IncludeAll)
}

// ListIncluding is List restricted to some state directories (rkt list
// uses IncludeMost). A pod found in an included directory that moved on to
// an excluded one while listing is left out.
func ListIncluding(dataDir string, include Include) ([]*Pod, []error) {
	ents, errs := listEntries(dataDir, include)
	seen := make(map[string]struct{}, len(ents))
	pods := make([]*Pod, 0, len(ents))
	for _, e := range ents {
		if _, dup := seen[e.name]; dup {
			continue
		}
		seen[e.name] = struct{}{}
		p, err := locate(dataDir, e.name, e.phase)
		if err != nil {
			if !errdefs.Is(err, errdefs.KindNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		if include.has(p.phase) {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].UUID < pods[j].UUID })
	return pods, errs
}

// lockDir opens the pod directory and takes a non-blocking lock on it,
// checking that it is still the pod's directory. It returns the open file
// holding the lock; busy is true (and the file nil) when another open file
// description holds a conflicting lock.
func (p *Pod) lockDir(how int) (f *os.File, busy bool, err error) {
	fd, err := openDir(p.Dir)
	if err != nil {
		if gone(err) {
			return nil, false, p.movedError()
		}
		return nil, false, fmt.Errorf("pod %q: %w", p.UUID, err)
	}
	ok, err := tryLock(fd, how)
	if err != nil || !ok {
		_ = unix.Close(fd)
		if err != nil {
			return nil, false, fmt.Errorf("pod %q: %w", p.UUID, err)
		}
		return nil, true, nil
	}
	same, _, err := samePath(fd, p.Dir)
	if err != nil || !same {
		_ = unix.Close(fd)
		if err != nil {
			return nil, false, err
		}
		return nil, false, p.movedError()
	}
	return os.NewFile(uintptr(fd), p.Dir), false, nil
}

// movedError says the pod is no longer where this Pod saw it.
func (p *Pod) movedError() error {
	return errdefs.NotFound(fmt.Errorf("pod %q is no longer %s: it was moved or removed", p.UUID, p.State))
}

// durableMove says whether a move from one phase to another is synced.
// Only the moves a user relies on after a power cut are: a prepared pod
// must still be there, and a prepared pod that ran must not look prepared
// again. Embryos and pods being prepared are garbage after a crash anyway
// (so is the pod of rkt run, which goes from prepare/ straight to run/:
// no fsync on its start path), and gc's moves are redone by the next gc.
func durableMove(from, to phase) bool {
	return to == phasePrepared || to == phaseRun && from == phasePrepared
}

// move renames the pod directory to phase to and records it.
func (p *Pod) move(to phase, st State) error {
	dst := podPath(p.dataDir, to, p.UUID)
	if err := os.MkdirAll(phaseDir(p.dataDir, to), 0o750); err != nil {
		return fmt.Errorf("move pod %q: %w", p.UUID, err)
	}
	rename := os.Rename
	if durableMove(p.phase, to) {
		rename = renameDurable
	}
	if err := rename(p.Dir, dst); err != nil {
		if gone(err) {
			if _, serr := os.Lstat(p.Dir); serr != nil && gone(serr) { //nolint:gosec // G703: p.Dir is the data dir plus a validated UUID
				return p.movedError()
			}
		}
		return fmt.Errorf("move pod %q to %s: %w", p.UUID, phaseDirs[to], err)
	}
	p.Dir, p.phase, p.State = dst, to, st
	if fi, err := os.Lstat(dst); err == nil {
		p.ctime = ctimeOf(fi)
	}
	return nil
}

// ToPreparing moves an embryo to prepare/, taking the exclusive lock on
// its directory first and keeping it (Close or ToPrepared or ToRun
// releases it). A process killed while preparing leaves an aborted prepare.
func (p *Pod) ToPreparing() error {
	if p.State != StateEmbryo || p.phase != phaseEmbryo {
		return fmt.Errorf("pod %q is %s: only an embryo can start preparing", p.UUID, p.State)
	}
	f, busy, err := p.lockDir(unix.LOCK_EX)
	if err != nil {
		return err
	}
	if busy {
		return fmt.Errorf("pod %q: %w", p.UUID, ErrLocked)
	}
	if err := p.move(phasePrepare, StatePreparing); err != nil {
		_ = f.Close()
		return err
	}
	p.lock = f
	return nil
}

// ToPrepared moves a pod this Pod is preparing (ToPreparing) to prepared/
// and releases its lock.
func (p *Pod) ToPrepared() error {
	if p.State != StatePreparing || p.lock == nil {
		return fmt.Errorf("pod %q is %s: only a pod being prepared by this process can become prepared", p.UUID, p.State)
	}
	if err := p.move(phasePrepared, StatePrepared); err != nil {
		return err
	}
	return p.Close()
}

// ToRun moves a prepared pod, or one this Pod is preparing (rkt run skips
// prepared/), to run/, exclusively locked. The returned file holds the
// lock: hand it to stage1 (see Inheritable) and keep it open for the pod's
// life; closing it makes the pod exited. It is close-on-exec until
// Inheritable clears that. ErrLocked means another process holds the lock
// (another run-prepared, or a gc removing the pod).
func (p *Pod) ToRun() (*os.File, error) {
	var lock *os.File
	switch {
	case p.State == StatePreparing && p.lock != nil:
		lock = p.lock
	case p.State == StatePrepared:
		f, busy, err := p.lockDir(unix.LOCK_EX)
		if err != nil {
			return nil, err
		}
		if busy {
			return nil, fmt.Errorf("pod %q: %w", p.UUID, ErrLocked)
		}
		lock = f
	default:
		return nil, fmt.Errorf("pod %q is %s: only a prepared pod, or one being prepared by this process, can run", p.UUID, p.State)
	}
	if err := p.move(phaseRun, StateRunning); err != nil {
		if lock != p.lock {
			_ = lock.Close()
		}
		return nil, err
	}
	p.lock = nil
	return lock, nil
}

// ToExitedGarbage moves an exited pod from run/ to exited-garbage/ (the gc
// mark; the rename sets the ctime the grace period counts from). It checks
// again, under a shared lock, that the pod has exited: a pod still running
// fails with ErrRunning.
func (p *Pod) ToExitedGarbage() error {
	if p.phase != phaseRun {
		return fmt.Errorf("pod %q is %s: only an exited pod can be marked as exited garbage", p.UUID, p.State)
	}
	f, busy, err := p.lockDir(unix.LOCK_SH)
	if err != nil {
		return err
	}
	if busy {
		p.State = StateRunning
		return fmt.Errorf("pod %q: %w", p.UUID, ErrRunning)
	}
	defer f.Close()
	return p.move(phaseExitedGarbage, StateExitedGarbage)
}

// ToGarbage moves an aborted prepare or a prepared pod to garbage/. It
// takes the exclusive lock first, so a pod being prepared or run
// (ErrLocked) is never moved.
func (p *Pod) ToGarbage() error {
	f, err := p.toGarbageLocked()
	if err != nil {
		return err
	}
	return f.Close()
}

// toGarbageLocked is ToGarbage keeping the exclusive lock; embryos are
// accepted too (gc expires abandoned ones).
func (p *Pod) toGarbageLocked() (*os.File, error) {
	switch p.State {
	case StateAbortedPrepare, StatePrepared, StateEmbryo:
	default:
		return nil, fmt.Errorf("pod %q is %s: only an aborted prepare or a prepared pod can be moved to garbage", p.UUID, p.State)
	}
	f, busy, err := p.lockDir(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	if busy {
		if p.State == StateAbortedPrepare {
			p.State = StatePreparing
		}
		return nil, fmt.Errorf("pod %q: %w", p.UUID, ErrLocked)
	}
	if err := p.move(phaseGarbage, StateGarbage); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// Errors for pods whose state forbids an operation; match with errors.Is.
var (
	// ErrLocked: another process holds the pod's lock.
	ErrLocked = errors.New("pod is locked by another process")
	// ErrRunning: the pod is running.
	ErrRunning = errors.New("pod is running")
)
