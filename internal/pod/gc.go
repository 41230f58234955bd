package pod

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/rootfs"
)

// Defaults of rkt gc's flags.
const (
	DefaultGracePeriod    = 30 * time.Minute
	DefaultExpirePrepared = 24 * time.Hour
	DefaultExpireEmbryo   = time.Hour
)

// DeleteOptions are the hooks of a pod deletion, for GC and Remove.
type DeleteOptions struct {
	// BeforeDelete runs just before a pod directory is deleted, while the
	// pod is exclusively locked (its State is then StateExitedDeleting for
	// a pod that ran, StateDeleting for one that never did). stage0 runs
	// the stage1 gc entrypoint here (network and cgroup teardown) and
	// makes sure no process of the pod is alive. An error keeps the pod for
	// the next gc and is reported.
	BeforeDelete func(p *Pod) error
	// RemoveAll deletes a pod directory; nil means rootfs.RemoveAll, which
	// unmounts everything below it first and never crosses a mount.
	RemoveAll func(path string) error
	// OnEvent, if set, is called for every event as it happens (the
	// events are also returned), so the CLI can print them in order.
	OnEvent func(GCEvent)
}

// GCOptions configure GC. Zero durations mean zero (collect at once), except
// ExpireEmbryo, where zero leaves embryos alone; DefaultGCOptions has rkt's
// defaults.
type GCOptions struct {
	DeleteOptions
	// GracePeriod: exited pods are deleted this long after gc marked them.
	GracePeriod time.Duration
	// ExpirePrepared: prepared pods are moved to garbage this long after
	// they became prepared.
	ExpirePrepared time.Duration
	// ExpireEmbryo: unlocked embryos (left by a process killed right after
	// creating a pod) are moved to garbage this long after their creation.
	// Zero disables it (rkt 1.x never collected embryos).
	ExpireEmbryo time.Duration
	// MarkOnly only moves exited pods and aborted prepares to the garbage
	// directories (rkt gc --mark-only).
	MarkOnly bool
	// Now is the clock the grace period and expirations are measured
	// with; nil means time.Now.
	Now func() time.Time
}

// DefaultGCOptions returns rkt gc's defaults: a 30m grace period, prepared
// pods expiring after 24h, and embryos after 1h.
func DefaultGCOptions() GCOptions {
	return GCOptions{
		GracePeriod:    DefaultGracePeriod,
		ExpirePrepared: DefaultExpirePrepared,
		ExpireEmbryo:   DefaultExpireEmbryo,
	}
}

// GCAction is what happened to a pod during GC or Remove.
type GCAction int

// The actions, with the line rkt prints for each (GCEvent.Message).
const (
	// MarkedExited: run/ → exited-garbage/ (stderr `moving pod "U" to garbage`).
	MarkedExited GCAction = iota
	// MarkedAborted: prepare/ → garbage/ (stderr `moving failed prepare "U" to garbage`).
	MarkedAborted
	// MarkedExpired: prepared/ → garbage/ (stderr `moving expired prepared pod "U" to garbage`).
	MarkedExpired
	// MarkedEmbryo: embryo/ → garbage/ (stderr `moving abandoned embryo "U" to garbage`).
	MarkedEmbryo
	// Kept: still within the grace period (stderr `pod "U" not removed: still within grace period (D)`).
	Kept
	// Collecting: about to delete (stdout `Garbage collecting pod "U"`).
	Collecting
	// Removed: the pod directory is gone.
	Removed
	// Failed: an operation on the pod failed; Err says which. The pod is
	// left for the next gc.
	Failed
)

// GCEvent is one thing that happened to one pod.
type GCEvent struct {
	Action GCAction
	UUID   string
	// Grace is the grace period, for Kept.
	Grace time.Duration
	// Err is the failure, for Failed.
	Err error
}

// Message returns the line rkt 1.x prints for the event ("" for Removed),
// and whether it goes to stdout (else stderr).
func (e GCEvent) Message() (msg string, stdout bool) {
	switch e.Action {
	case MarkedExited:
		return fmt.Sprintf("moving pod %q to garbage", e.UUID), false
	case MarkedAborted:
		return fmt.Sprintf("moving failed prepare %q to garbage", e.UUID), false
	case MarkedExpired:
		return fmt.Sprintf("moving expired prepared pod %q to garbage", e.UUID), false
	case MarkedEmbryo:
		return fmt.Sprintf("moving abandoned embryo %q to garbage", e.UUID), false
	case Kept:
		return fmt.Sprintf("pod %q not removed: still within grace period (%s)", e.UUID, e.Grace), false
	case Collecting:
		return fmt.Sprintf("Garbage collecting pod %q", e.UUID), true
	case Failed:
		return e.Err.Error(), false
	}
	return "", false
}

// GCResult is everything GC did, in order.
type GCResult struct {
	Events []GCEvent
}

func (r *GCResult) uuids(a ...GCAction) []string {
	var out []string
	for _, e := range r.Events {
		for _, x := range a {
			if e.Action == x {
				out = append(out, e.UUID)
			}
		}
	}
	return out
}

// Marked returns the UUIDs of the pods moved to a garbage directory.
func (r *GCResult) Marked() []string {
	return r.uuids(MarkedExited, MarkedAborted, MarkedExpired, MarkedEmbryo)
}

// Removed returns the UUIDs of the pods deleted.
func (r *GCResult) Removed() []string { return r.uuids(Removed) }

// Kept returns the UUIDs of the marked pods still within the grace period.
func (r *GCResult) Kept() []string { return r.uuids(Kept) }

// Errors returns the failures (pods left for the next gc, unreadable
// entries).
func (r *GCResult) Errors() []error {
	var out []error
	for _, e := range r.Events {
		if e.Action == Failed {
			out = append(out, e.Err)
		}
	}
	return out
}

type collector struct {
	res  *GCResult
	opts DeleteOptions
}

func (c *collector) emit(e GCEvent) {
	c.res.Events = append(c.res.Events, e)
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
}

func (c *collector) fail(uuid string, err error) {
	c.emit(GCEvent{Action: Failed, UUID: uuid, Err: err})
}

func (c *collector) listErrors(errs []error) {
	for _, err := range errs {
		c.fail("", err)
	}
}

// GC is rkt gc: mark exited pods (run/ → exited-garbage/) and aborted
// prepares (→ garbage/); unless MarkOnly, also move expired prepared pods
// (and abandoned embryos) to garbage/, delete exited garbage older than
// the grace period, and delete all garbage. Pods whose lock is held
// (running, being prepared or run, being deleted by another gc) are never
// touched. Failures on single pods are events in the result and do not
// stop the collection; the returned error is non-nil only when a state
// directory could not be read.
func GC(dataDir string, opts GCOptions) (*GCResult, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	spreadPods(dataDir)
	c := &collector{res: &GCResult{}, opts: opts.DeleteOptions}
	var fatal []error
	list := func(in Include) []*Pod {
		pods, errs := ListIncluding(dataDir, in)
		for _, err := range errs {
			if errors.Is(err, errReadPodsDir) {
				fatal = append(fatal, err)
			}
		}
		c.listErrors(errs)
		return pods
	}

	for _, p := range list(IncludeRun) {
		if p.State != StateExited {
			continue
		}
		c.mark(p, MarkedExited, func() error { return p.ToExitedGarbage() })
	}
	for _, p := range list(IncludePrepare) {
		if p.State != StateAbortedPrepare {
			continue
		}
		c.mark(p, MarkedAborted, p.ToGarbage)
	}
	if opts.MarkOnly {
		return c.res, errors.Join(fatal...)
	}
	for _, p := range list(IncludePrepared) {
		if p.State == StatePrepared && now().After(p.ctime.Add(opts.ExpirePrepared)) {
			c.mark(p, MarkedExpired, p.ToGarbage)
		}
	}
	if opts.ExpireEmbryo > 0 {
		for _, p := range list(IncludeEmbryo) {
			if p.State == StateEmbryo && now().After(p.ctime.Add(opts.ExpireEmbryo)) {
				c.mark(p, MarkedEmbryo, p.ToGarbage)
			}
		}
	}
	for _, p := range list(IncludeExitedGarbage) {
		if p.State != StateExitedGarbage {
			continue // being deleted by another gc
		}
		if !now().After(p.ctime.Add(opts.GracePeriod)) {
			c.emit(GCEvent{Action: Kept, UUID: p.UUID, Grace: opts.GracePeriod})
			continue
		}
		c.collect(p, nil)
	}
	for _, p := range list(IncludeGarbage) {
		if p.State != StateGarbage {
			continue
		}
		c.collect(p, nil)
	}
	return c.res, errors.Join(fatal...)
}

// mark runs one mark transition; a pod that moved on or got locked
// meanwhile is skipped silently (another process is dealing with it).
func (c *collector) mark(p *Pod, a GCAction, move func() error) {
	err := move()
	switch {
	case err == nil:
		c.emit(GCEvent{Action: a, UUID: p.UUID})
	case errdefs.Is(err, errdefs.KindNotFound), errors.Is(err, ErrLocked), errors.Is(err, ErrRunning):
	default:
		c.fail(p.UUID, fmt.Errorf("rename error: %w", err))
	}
}

// collect deletes a pod in exited-garbage/ or garbage/. lock is the
// exclusive lock when the caller already holds it; collect takes it
// otherwise (a pod locked by someone else is skipped) and releases it.
func (c *collector) collect(p *Pod, lock *os.File) bool {
	if lock == nil {
		f, busy, err := p.lockDir(unix.LOCK_EX)
		if err != nil {
			if !errdefs.Is(err, errdefs.KindNotFound) {
				c.fail(p.UUID, err)
			}
			return false
		}
		if busy {
			return false
		}
		lock = f
	}
	defer lock.Close()
	if p.phase == phaseExitedGarbage {
		p.State = StateExitedDeleting
	} else {
		p.State = StateDeleting
	}
	c.emit(GCEvent{Action: Collecting, UUID: p.UUID})
	if c.opts.BeforeDelete != nil {
		if err := c.opts.BeforeDelete(p); err != nil {
			c.fail(p.UUID, fmt.Errorf("pod %q kept: %w", p.UUID, err))
			return false
		}
	}
	// The lock is still ours and the directory still where we locked it.
	same, _, err := samePath(int(lock.Fd()), p.Dir)
	if err != nil || !same {
		if err == nil {
			err = p.movedError()
		}
		c.fail(p.UUID, err)
		return false
	}
	removeAll := c.opts.RemoveAll
	if removeAll == nil {
		removeAll = rootfs.RemoveAll
	}
	if err := removeAll(p.Dir); err != nil {
		c.fail(p.UUID, fmt.Errorf("unable to remove pod %q: %w", p.UUID, err))
		return false
	}
	c.emit(GCEvent{Action: Removed, UUID: p.UUID})
	return true
}

// Errors of Remove for pods in a state rkt rm refuses.
var (
	// ErrPreparing: the pod is an embryo or being prepared.
	ErrPreparing = errors.New("pod is being prepared")
	// ErrDeleting: another process is deleting the pod.
	ErrDeleting = errors.New("pod is being deleted")
)

// Remove is rkt rm: the immediate gc of an exited, prepared or aborted pod
// (or one already marked), through the same BeforeDelete and RemoveAll as
// GC. It refuses a running pod (ErrRunning), one being prepared
// (ErrPreparing) or one being deleted (ErrDeleting), with rkt's messages.
func (p *Pod) Remove(opts DeleteOptions) (*GCResult, error) {
	c := &collector{res: &GCResult{}, opts: opts}
	if err := p.Refresh(); err != nil {
		return c.res, err
	}
	var lock *os.File
	var err error
	switch p.State {
	case StateRunning:
		return c.res, fmt.Errorf("pod %q is currently running: %w", p.UUID, ErrRunning)
	case StateEmbryo, StatePreparing:
		return c.res, fmt.Errorf("pod %q is currently being prepared: %w", p.UUID, ErrPreparing)
	case StateDeleting, StateExitedDeleting:
		return c.res, fmt.Errorf("pod %q is currently being deleted: %w", p.UUID, ErrDeleting)
	case StateAbortedPrepare, StatePrepared:
		a := MarkedAborted
		if p.State == StatePrepared {
			a = MarkedExpired
		}
		lock, err = p.toGarbageLocked()
		if err != nil {
			return c.res, p.refusal(err)
		}
		c.emit(GCEvent{Action: a, UUID: p.UUID})
	case StateExited:
		if err := p.ToExitedGarbage(); err != nil {
			return c.res, p.refusal(err)
		}
		c.emit(GCEvent{Action: MarkedExited, UUID: p.UUID})
	}
	if lock == nil {
		f, busy, err := p.lockDir(unix.LOCK_EX)
		if err != nil {
			return c.res, err
		}
		if busy {
			return c.res, fmt.Errorf("pod %q is currently being deleted: %w", p.UUID, ErrDeleting)
		}
		lock = f
	}
	if !c.collect(p, lock) {
		errs := c.res.Errors()
		return c.res, errs[len(errs)-1]
	}
	return c.res, nil
}

// refusal rewrites a lock conflict met while moving the pod as rkt rm's
// refusal for the state the pod turned out to be in.
func (p *Pod) refusal(err error) error {
	if !errors.Is(err, ErrLocked) && !errors.Is(err, ErrRunning) {
		return err
	}
	switch p.State {
	case StateRunning:
		return fmt.Errorf("pod %q is currently running: %w", p.UUID, ErrRunning)
	case StatePreparing:
		return fmt.Errorf("pod %q is currently being prepared: %w", p.UUID, ErrPreparing)
	}
	return fmt.Errorf("pod %q is locked by another process (being run or removed): %w", p.UUID, ErrLocked)
}
