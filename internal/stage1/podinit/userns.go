package podinit

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall" //nolint:depguard // syscall.ForkExec and SysProcIDMap: x/sys/unix re-exports neither

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"

	"github.com/rkt/rkt/internal/isolation/mount"
)

// RoleUsernsHold is the hidden first argument of the process that only
// holds a user namespace open while pod init takes a reference to it.
const RoleUsernsHold = "__rkt-stage1-userns-hold"

// UsernsHoldMain is that process: it waits for its stdin to close.
func UsernsHoldMain() int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// userns is the pod's user namespace (--private-users): an fd of it, for
// idmapped mounts, and its mapping, which every app's own user namespace
// repeats.
type userns struct {
	fd          int
	shift, size uint32
	idmapped    map[string]bool // layer dirs already idmapped
}

func (u *userns) maps() []syscall.SysProcIDMap { return idMaps(u.shift, u.size) }

// idMaps maps IDs 0..size-1 to the host's shift..shift+size-1.
func idMaps(shift, size uint32) []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(shift), Size: int(size)}}
}

// newUserns makes a user namespace mapping IDs 0..size-1 to the host's
// shift..shift+size-1 and returns an fd of it. A namespace lives while a
// process or an fd holds it; it takes a process to make one, so a child of
// ours is born in it, holds it until we opened it, and exits.
//
// It runs on a thread of its own with a mount namespace of its own where
// /proc is the pod's procfs: Go writes the child's ID maps through
// /proc/<pid>, and pod init's /proc is the host's (see hostPIDOf).
func newUserns(shift, size uint32) (*userns, error) {
	type result struct {
		u   *userns
		err error
	}
	done := make(chan result, 1)
	// The thread dies with its mount namespace.
	onSpareThread(func() {
		u, err := newUsernsInThread(shift, size)
		done <- result{u, err}
	})
	r := <-done
	return r.u, r.err
}

func newUsernsInThread(shift, size uint32) (*userns, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("user namespace: the pod's procfs: %w", err)
	}
	u := &userns{fd: -1, shift: shift, size: size, idmapped: map[string]bool{}}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"stage1-userns", RoleUsernsHold}, &syscall.ProcAttr{ //nolint:gosec // G204: ourselves
		Env:   abi.HelperEnv(),
		Files: []uintptr{r.Fd(), 1, 2},
		Sys: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER, UidMappings: u.maps(), GidMappings: u.maps(),
			GidMappingsEnableSetgroups: true,
		},
	})
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	fd, oerr := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	w.Close()
	_, _ = Wait(pid)
	if oerr != nil {
		return nil, fmt.Errorf("user namespace: %w", oerr)
	}
	u.fd = fd
	return u, nil
}

// idmap replaces a layer dir, in pod init's mount namespace, by an
// idmapped bind of itself (once per pod).
func (u *userns) idmap(dir string) error {
	if u.idmapped[dir] {
		return nil
	}
	if err := mount.IdmapOverSelf(dir, u.fd); err != nil {
		return fmt.Errorf("%w (--private-users with overlay needs idmapped mounts, Linux 5.19 or later on a file system that supports them; --no-overlay, without volumes, works without them)", err)
	}
	u.idmapped[dir] = true
	return nil
}
