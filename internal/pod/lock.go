package pod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openDir opens a pod (or state) directory for locking: O_RDONLY|
// O_DIRECTORY, never following a symlink.
func openDir(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// tryLock takes a non-blocking flock (how is unix.LOCK_SH or LOCK_EX) on
// fd. It reports false, nil when another open file description holds a
// conflicting lock.
func tryLock(fd, how int) (bool, error) {
	for {
		err := unix.Flock(fd, how|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		default:
			return false, fmt.Errorf("flock: %w", err)
		}
	}
}

// samePath reports whether path still names the directory open as fd
// (same device and inode), and returns fd's ctime. A path that no longer
// exists, or names something else, means the pod was renamed meanwhile.
func samePath(fd int, path string) (same bool, fst unix.Stat_t, err error) {
	if err := unix.Fstat(fd, &fst); err != nil {
		return false, fst, fmt.Errorf("stat %s: %w", path, err)
	}
	var lst unix.Stat_t
	if err := unix.Lstat(path, &lst); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return false, fst, nil
		}
		return false, fst, fmt.Errorf("stat %s: %w", path, err)
	}
	return lst.Dev == fst.Dev && lst.Ino == fst.Ino, fst, nil
}

// gone reports whether err says a path does not exist (any more): the pod
// was renamed or deleted while we looked.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}

// syncDir fsyncs a directory so that a rename into it is durable.
func syncDir(path string) error {
	fd, err := openDir(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// renameDurable renames a pod directory and syncs the destination's
// parent.
func renameDurable(from, to string) error {
	if err := os.Rename(from, to); err != nil { //nolint:gosec // G703: pod paths are the data dir plus a validated UUID
		return err
	}
	return syncDir(filepath.Dir(to))
}

// Inheritable clears FD_CLOEXEC on f (the lock file ToRun returns) so
// that it survives the exec of the stage1 run entrypoint, and returns its
// descriptor number for RKT_LOCK_FD (abi.EnvLockFD). Call it right before
// the exec, and keep f referenced until then: an *os.File that becomes
// unreachable is closed by its finalizer, releasing the pod lock.
func Inheritable(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("lock fd: %w", err)
	}
	fd := -1
	var ferr error
	if err := rc.Control(func(u uintptr) {
		fd = int(u)
		_, ferr = unix.FcntlInt(u, unix.F_SETFD, 0)
	}); err != nil {
		return -1, fmt.Errorf("lock fd: %w", err)
	}
	if ferr != nil {
		return -1, fmt.Errorf("lock fd: clear close-on-exec: %w", ferr)
	}
	return fd, nil
}
