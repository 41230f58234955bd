package rootfs

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file holds thin wrappers around the syscalls the package needs and
// that golang.org/x/sys/unix does not offer in the fd-relative, never-follow
// form we want.

// retryEINTR runs f until it returns anything but EINTR.
func retryEINTR(f func() error) error {
	for {
		err := f()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// writeAll writes all of b to fd.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		if n == 0 {
			return unix.EIO
		}
		b = b[n:]
	}
	return nil
}

// readFd is read(2) on fd, retried on EINTR; at EOF it returns 0 and no
// error.
func readFd(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// openat2 wraps unix.Openat2, retrying on EINTR and on the EAGAIN that
// RESOLVE_IN_ROOT returns when a concurrent rename makes ".." unsafe.
func openat2(dirfd int, p string, flags uint64, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve}
	var err error
	for range 16 {
		var fd int
		fd, err = unix.Openat2(dirfd, p, &how)
		if err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
			return -1, err
		}
	}
	return -1, err
}

// openat wraps unix.Openat, retrying on EINTR.
func openat(dirfd int, p string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, p, flags|unix.O_CLOEXEC, mode)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// futimens sets the times of the file open as fd (utimensat(fd, NULL, ts, 0)).
func futimens(fd int, ts *[2]unix.Timespec) error {
	return retryEINTR(func() error {
		//nolint:gosec // G103: utimensat(fd, NULL, ts, 0) has no x/sys wrapper; ts outlives the call
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

// fchmodatNoFollow sets the mode of name in dirfd without following a final
// symlink. It uses fchmodat2 (Linux 6.6) and falls back to chmod through an
// O_PATH descriptor that was checked not to be a symlink.
func fchmodatNoFollow(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	fd, err := openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

// statxFd returns the statx of the file open as fd.
func statxFd(fd int, stx *unix.Statx_t) error {
	return retryEINTR(func() error {
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
			unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, stx)
	})
}

// statxAt returns the statx of name in dirfd, not following a final symlink.
func statxAt(dirfd int, name string, stx *unix.Statx_t) error {
	return retryEINTR(func() error {
		return unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
			unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, stx)
	})
}

// fileID identifies a file: device and inode.
type fileID struct {
	devMajor, devMinor uint32
	ino                uint64
}

func idOf(stx *unix.Statx_t) fileID {
	return fileID{stx.Dev_major, stx.Dev_minor, stx.Ino}
}

// mountID identifies the mount and device a file is on. The mount ID is
// zero where the kernel does not report it, and then only the device counts.
type mountID struct {
	devMajor, devMinor uint32
	mnt                uint64
}

func mountOf(stx *unix.Statx_t) mountID {
	m := mountID{devMajor: stx.Dev_major, devMinor: stx.Dev_minor}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		m.mnt = stx.Mnt_id
	}
	return m
}

// sameMount reports whether a file with mount m is on the same file system
// and mount as the walk's root with mount root.
func sameMount(root, m mountID) bool {
	if root.devMajor != m.devMajor || root.devMinor != m.devMinor {
		return false
	}
	return root.mnt == 0 || m.mnt == 0 || root.mnt == m.mnt
}

// dirent is one entry read with getdents64.
type dirent struct {
	name  string
	dtype uint8
}

// readDirents reads all the entries of the directory open as fd from its
// start, without "." and "..".
func readDirents(fd int, buf []byte) ([]dirent, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	var out []dirent
	for {
		var n int
		err := retryEINTR(func() error {
			var err error
			n, err = unix.Getdents(fd, buf)
			return err
		})
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		out = parseDirents(buf[:n], out)
	}
}

// parseDirents appends the linux_dirent64 records in b to out.
func parseDirents(b []byte, out []dirent) []dirent {
	const nameOff = 19 // ino(8) off(8) reclen(2) type(1)
	for len(b) >= nameOff {
		reclen := int(b[16]) | int(b[17])<<8
		if reclen < nameOff || reclen > len(b) {
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[nameOff:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		out = append(out, dirent{name: string(name), dtype: rec[18]})
	}
	return out
}

// processUmask returns the process umask, read without changing it (the
// umask(2) call is process wide and would race with other goroutines). It
// returns 0o777 where it cannot be read, so that callers always chmod.
func processUmask() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "Umask:")
		if !ok {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
		if err != nil {
			return 0o777
		}
		return uint32(m)
	}
	return 0o777
}

// fsTopdirFL is FS_TOPDIR_FL of include/uapi/linux/fs.h (chattr +T), which
// golang.org/x/sys/unix does not define.
const fsTopdirFL = 0x00020000

// SpreadNewTrees marks dir so that ext4 places each directory made in it
// in a block group of its own (FS_TOPDIR_FL: the Orlov allocator spreads
// its subdirectories as it spreads top-level ones) instead of in dir's
// group. Trees made and removed over and over in one place (pods,
// rendered layers) would otherwise share a few block groups, and ext4
// without a journal skips, on every inode it allocates there, the inodes
// freed in the last minute or more: on such a host, after a few hundred
// pods, making an inode took 0.4-0.5 ms instead of 35 µs, and a pod makes
// about forty. Other file systems do not know the flag (the error says
// so); callers treat it as a hint.
func SpreadNewTrees(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if flags&fsTopdirFL != 0 {
		return nil
	}
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
}
