package ns

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"syscall" //nolint:depguard // syscall.Credential: the type of unix.SysProcAttr.Credential, which x/sys/unix does not re-export

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/cgroup/layout"
	"github.com/rkt/rkt/internal/covflush"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// Enter is the enter entrypoint (cwd = the pod dir): it runs a command in
// the namespaces and rootfs of one app, with the app's environment, and
// exits with the command's exit code.
func Enter(args []string) int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	a, err := abi.ParseEnterArgs(args)
	if err != nil {
		return fail("%v", err)
	}
	pid, err := readPID(podinit.PidsDir + "/" + a.AppName)
	if err != nil {
		return fail("enter: app %q: %v", a.AppName, err)
	}
	specData, err := os.ReadFile(podinit.EnterDir + "/" + a.AppName)
	if err != nil {
		return fail("enter: app %q: %v", a.AppName, err)
	}
	var spec podinit.EnterSpec
	if err := json.Unmarshal(specData, &spec); err != nil {
		return fail("enter: app %q: %s: %v", a.AppName, podinit.EnterDir, err)
	}
	cred, err := credential(spec)
	if err != nil {
		return fail("enter: app %q: %v", a.AppName, err)
	}
	env := spec.Exec.Env
	// Open every namespace first, so they all belong to the same process.
	kinds := []struct {
		name string
		flag int
	}{{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS}}
	fds := make([]int, len(kinds))
	for i, k := range kinds {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, k.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("enter: app %q (PID %d): %v", a.AppName, pid, err)
		}
		defer unix.Close(fd)
		fds[i] = fd
	}
	// With --private-users, the helper binary (ourselves) is exec'd
	// through an fd: /proc/self is not ours in the app's procfs.
	exe := -1
	if spec.UsernsSize > 0 {
		fd, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("enter: %v", err)
		}
		defer unix.Close(fd)
		exe = fd
	}
	// The app's cgroups, opened now: the app's mount namespace has no
	// cgroupfs. The locked thread below writes itself into them.
	cgFiles, err := appCgroupFiles(a.AppName)
	if err != nil {
		return fail("enter: app %q: %v", a.AppName, err)
	}
	for _, fd := range cgFiles {
		defer unix.Close(fd)
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail("enter: close_range: %v", err)
	}
	// setns(CLONE_NEWNS) needs an fs_struct of our own: this thread gets one
	// (unshare CLONE_FS), joins the namespaces, and forks the command; the
	// thread is never given back to the Go scheduler.
	// A coverage build's counters, now: from here this thread lives in the
	// app's mount namespace, where $GOCOVERDIR is not.
	covflush.BeforeExec()
	runtime.LockOSThread()
	for _, fd := range cgFiles {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fail("enter: joining the cgroup of app %q: %v", a.AppName, err)
		}
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fail("enter: unshare: %v", err)
	}
	for i, k := range kinds {
		if err := unix.Setns(fds[i], k.flag); err != nil {
			return fail("enter: joining the %s namespace of app %q: %v", k.name, a.AppName, err)
		}
	}
	if err := unix.Chdir("/"); err != nil {
		return fail("enter: %v", err)
	}
	prog, err := podinit.LookPath(a.Cmd[0], env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %v\n", a.Cmd[0], err)
		return podinit.ExitExecFailed
	}
	if spec.UsernsSize > 0 {
		// The command gets a user namespace with the app's mapping, and
		// the app's limits from the helper in it, as the app did.
		spec.Exec.Argv = append([]string{prog}, a.Cmd[1:]...)
		js, err := json.Marshal(spec)
		if err != nil {
			return fail("enter: %v", err)
		}
		// A child of ours in the pod's PID namespace starts the helper:
		// the child's /proc/self is itself there (ours is not), and the
		// helper's ID maps are written through the pod's procfs.
		cfg, err := podinit.ConfigFile("rkt-enter-spec", js)
		if err != nil {
			return fail("enter: %v", err)
		}
		// The specification on podinit.ConfigFD (3), the binary on 4.
		child, err := syscall.ForkExec("/proc/self/fd/4", []string{"stage1-enter", podinit.RoleEnterChild}, &syscall.ProcAttr{ //nolint:gosec // G204: ourselves
			Dir: "/", Env: abi.HelperEnv(), Files: []uintptr{0, 1, 2, uintptr(cfg), uintptr(exe)},
		})
		unix.Close(cfg)
		if err != nil {
			return fail("enter: starting in the app's user namespace: %v", err)
		}
		return exitOf(child)
	}
	// What the app's own thread had before its fork (podinit.startApp):
	// never more.
	if err := spec.Security.LimitThread(); err != nil {
		return fail("enter: %v", err)
	}
	if err := spec.Security.InstallSeccomp(); err != nil {
		return fail("enter: %v", err)
	}
	// syscall.ForkExec and wait4: the calls after the filter are those of
	// seccomp.Startup (os.StartProcess would first probe pidfd support).
	child, err := syscall.ForkExec(prog, a.Cmd, &syscall.ProcAttr{ //nolint:gosec // G204: the user's command, run inside the app, is the point of enter
		Dir: "/", Env: env, Files: []uintptr{0, 1, 2},
		Sys: &unix.SysProcAttr{Credential: cred},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %v\n", a.Cmd[0], err)
		return podinit.ExitExecFailed
	}
	return exitOf(child)
}

// exitOf waits for child and returns its exit code (128+N for signal N).
func exitOf(child int) int {
	defer covflush.FromOtherThread()
	ws, err := podinit.Wait(child)
	if err != nil {
		return fail("enter: %v", err)
	}
	return podinit.ExitCode(ws)
}

// appCgroupFiles opens, for writing, the files that put a thread (v1:
// tasks) or this process (v2: cgroup.procs) where the app's processes
// are: the app's own cgroup in the hierarchies where it has one, the
// pod's elsewhere. A pod without a cgroups file gives none.
func appCgroupFiles(app string) ([]int, error) {
	l, err := layout.Load(".")
	if err != nil || l == nil {
		return nil, err
	}
	var fds []int
	for _, d := range l.ProcessDirs(app) {
		fd, err := unix.Open(d+"/"+l.ThreadFile(), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// credential checks the IDs of an EnterSpec (a file of the pod dir, which
// pod init wrote) and turns them into the command's credentials.
func credential(spec podinit.EnterSpec) (*syscall.Credential, error) {
	const maxID = 1<<31 - 2
	e := spec.Exec
	if e.UID < 0 || e.UID > maxID || e.GID < 0 || e.GID > maxID {
		return nil, fmt.Errorf("invalid uid %d or gid %d", e.UID, e.GID)
	}
	groups := make([]uint32, 0, len(e.SupplementaryGIDs))
	for _, g := range e.SupplementaryGIDs {
		if g < 0 || g > maxID {
			return nil, fmt.Errorf("invalid group %d", g)
		}
		groups = append(groups, uint32(g))
	}
	return &syscall.Credential{Uid: uint32(e.UID), Gid: uint32(e.GID), Groups: groups}, nil
}
