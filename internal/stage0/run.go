package stage0

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/cgroup"
	"github.com/rkt/rkt/internal/cgroup/layout"
	"github.com/rkt/rkt/internal/covflush"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// Exec hands a prepared pod to stage1 in this very process: it moves the
// pod to run (taking the exclusive lock stage1 keeps for the pod's life),
// mounts the stage1 tree read-only in the pod directory, and execs the
// stage1 run entrypoint with the pod directory as working directory. The
// process becomes the pod's root process, so its exit code is the pod's.
// before, if not nil, runs once the pod is in run and locked by this
// process, to write last files into the pod directory and adjust args; it
// returns variables to add to stage1's environment. Exec returns only on
// failure.
//
// Before the exec it creates the pod's cgroups (warn gets what they cannot
// enforce), or with Prepared.Exec waits for those Prepare made, and moves
// this process into them; and, for a stage1 image that names a pod-init
// entrypoint, it starts the pod's PID 1 (startPodInit).
func Exec(p *pod.Pod, pm *schema.PodManifest, st1 *Stage1, args abi.RunArgs, before func(podDir string, pm *schema.PodManifest, args *abi.RunArgs) ([]string, error), warn func(string)) error {
	return execPod(p, pm, st1, nil, args, before, warn)
}

// Exec is Exec of a pod Prepare made: the cgroups it started (with Run)
// are joined, unless args asks for other device rules than Run said, in
// which case they are made again.
func (r *Prepared) Exec(args abi.RunArgs, before func(podDir string, pm *schema.PodManifest, args *abi.RunArgs) ([]string, error), warn func(string)) error {
	cs := r.cgroups
	r.cgroups = nil
	if cs != nil && cs.allDevices != args.DisablePaths {
		if err := cs.remove(); err != nil {
			return fmt.Errorf("pod %s: %w", r.Pod.UUID, err)
		}
		cs = nil
	}
	return execPod(r.Pod, r.Manifest, r.Stage1, cs, args, before, warn)
}

func execPod(p *pod.Pod, pm *schema.PodManifest, st1 *Stage1, cs *cgroupsStart, args abi.RunArgs, before func(podDir string, pm *schema.PodManifest, args *abi.RunArgs) ([]string, error), warn func(string)) error {
	if cs != nil {
		// The pod moves to run once gc can find its cgroups (their
		// layout is recorded), while they are made.
		cs.waitRecorded()
	}
	lock, err := p.ToRun()
	if err != nil {
		if cs != nil {
			_ = cs.remove()
		}
		return err
	}
	// The stage1 tree is bound while the cgroups are made.
	if err := BindStage1(p.Dir, st1.Rootfs); err != nil {
		if cs != nil {
			_ = cs.remove()
		}
		return err
	}
	var l *layout.Layout
	var warnings []string
	if cs != nil {
		if l, warnings, err = cs.wait(); err != nil {
			return fmt.Errorf("pod %s: %w", p.UUID, err)
		}
	}
	// The cgroups are joined by this thread, and this thread execs stage1
	// (see cgroup.JoinThread): it must stay the same OS thread.
	runtime.LockOSThread()
	if cs == nil {
		if l, warnings, err = createCgroups(p, pm, args.DisablePaths, nil); err != nil {
			return fmt.Errorf("pod %s: %w", p.UUID, err)
		}
	}
	for _, w := range warnings {
		warn(w)
	}
	if err := cgroup.JoinThread(l); err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	var extraEnv []string
	if before != nil {
		if extraEnv, err = before(p.Dir, pm, &args); err != nil {
			return fmt.Errorf("pod %s: %w", p.UUID, err)
		}
	}
	entry := filepath.Join(p.Dir, abi.Stage1Rootfs, st1.Entrypoints[abi.AnnotationRun])
	if err := os.Chdir(p.Dir); err != nil {
		return err
	}
	var early *abi.PodInit
	if init, ok := st1.Entrypoints[abi.AnnotationPodInit]; ok {
		// Without one (nil also when it could not start), the run
		// entrypoint starts pod init itself. Started before the lock fd
		// is made inheritable: pod init must not hold the lock.
		var err error
		if early, err = startPodInit(filepath.Join(p.Dir, abi.Stage1Rootfs, init), args); err != nil && args.Debug {
			warn(fmt.Sprintf("pod init not started before the run entrypoint, which starts it: %v", err))
		}
	}
	// giveUp stops the pod init started here when the exec does not
	// happen.
	giveUp := func() {
		if early != nil {
			early.Abandon()
		}
	}
	fd, err := pod.Inheritable(lock)
	if err != nil {
		giveUp()
		return fmt.Errorf("pod %s: lock: %w", p.UUID, err)
	}
	// The run process only waits for the pod: one Go P keeps its threads,
	// and so its stacks, few (it costs memory for every running pod).
	set := append(extraEnv, abi.EnvLockFD+"="+strconv.Itoa(fd), "GOMAXPROCS=1")
	if args.Debug {
		set = append(set, abi.EnvDebug+"=1")
	}
	// EnvPodInit is dropped from rkt's own environment in any case: the
	// run entrypoint must hear only of a pod init started here.
	env := withoutVars(os.Environ(), append(set, abi.EnvPodInit+"="))
	if early != nil {
		set = append(set, abi.EnvPodInit+"="+early.String())
	}
	env = append(env, set...)
	argv := append([]string{entry}, args.Argv()...)
	covflush.BeforeExec()
	if err := unix.Exec(entry, argv, env); err != nil {
		giveUp()
		return fmt.Errorf("pod %s: exec stage1 %s: %w", p.UUID, entry, err)
	}
	return nil
}

// startPodInit starts the stage1's pod init (abi.AnnotationPodInit, at
// path) for a pod run with args, from this thread, which execs the run
// entrypoint next (the thread's death would be pod init's parent-death
// signal; an exec is not a death): pod init's start overlaps the exec and
// the run entrypoint's. It returns nil for a pod whose namespaces only
// the run entrypoint can make (abi.PodNamespaces). The descriptors it
// returns are open across the exec; the cwd is the pod directory.
func startPodInit(path string, args abi.RunArgs) (*abi.PodInit, error) {
	flags, ok := abi.PodNamespaces(args.Net, args.IPC)
	if !ok {
		return nil, nil
	}
	// Pod init gets fds 0-3 and nothing else: whatever rkt's caller left
	// open without close-on-exec goes no further than this process (the
	// run entrypoint would have closed it on its exec too).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("close_range: %w", err)
	}
	// argv[0] is the name the binary dispatches on.
	pi, err := abi.StartPodInit(path, []string{"pod-init"}, flags)
	if err != nil {
		return nil, err
	}
	// This process's end goes to the run entrypoint.
	if _, err := unix.FcntlInt(uintptr(pi.ConfigFD), unix.F_SETFD, 0); err != nil {
		pi.Abandon()
		return nil, fmt.Errorf("pod init: %w", err)
	}
	return &pi, nil
}

// withoutVars drops from environ the variables that set gives: a copy
// inherited from rkt's own environment would come first, and a process
// takes the first.
func withoutVars(environ, set []string) []string {
	keys := make(map[string]bool, len(set))
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := environ[:0:0]
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	return out
}

// BindStage1 mounts the stage1 tree read-only at the pod's stage1/rootfs,
// so the binaries the host runs for this pod (run, enter, stop, gc) can
// never be rewritten through the pod (CVE-2019-5736), and a pod never
// needs its own copy. gc unmounts it before deleting the pod.
func BindStage1(podDir, tree string) error {
	target := filepath.Join(podDir, abi.Stage1Rootfs)
	if err := unix.Mount(tree, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind stage1 tree on %s: %w", target, err)
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("make stage1 tree read-only on %s: %w", target, err)
	}
	return nil
}

func execve(path string, argv, env []string) error {
	covflush.BeforeExec()
	if err := unix.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}
