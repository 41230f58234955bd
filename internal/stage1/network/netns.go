package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/podinit"
)

// NetNSDir is where pod network namespaces are bound, where iproute2
// (`ip netns`) keeps them.
const NetNSDir = "/var/run/netns"

// NetNSPath is the bind mount of a pod's network namespace.
func NetNSPath(uuid string) string { return NetNSDir + "/cni-" + uuid }

// createNetNS makes a network namespace with loopback up and binds it at
// path. The namespace is entered on a thread of its own, which ends with
// its goroutine: no thread of ours is left in the wrong namespace.
func createNetNS(path string) error {
	if err := os.MkdirAll(NetNSDir, 0o755); err != nil { //nolint:gosec // G301: iproute2's mode: any user may list and enter named namespaces
		return fmt.Errorf("network namespace: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444) //nolint:gosec // G302: an empty mount point, as iproute2 makes them
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := podinit.LoopbackUp(); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("network namespace: %w", err)
	}
	return nil
}

// removeNetNS unbinds and removes a namespace file; a missing one is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) { //nolint:gosec // G703: NetNSPath of a checked pod UUID
		return err
	}
	return nil
}

// isNetNS reports whether path is a bound namespace (not the empty file a
// reboot leaves behind).
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// EnterNetNS moves the calling thread, which must be locked to its
// goroutine, into the namespace bound at path, and returns how to move it
// back.
func EnterNetNS(path string) (restore func() error, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(self)
		return nil, err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		unix.Close(self)
		return nil, fmt.Errorf("entering %s: %w", path, err)
	}
	return func() error {
		defer unix.Close(self)
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("leaving %s: %w", path, err)
		}
		return nil
	}, nil
}
