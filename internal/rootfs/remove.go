package rootfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// maxRemoveDepth is how deep the removal walk holds directory descriptors;
// a directory found deeper is first moved up to the top of the tree being
// removed, so that any depth can be removed with a bounded number of fds.
const maxRemoveDepth = 128

// RemoveAll removes path and everything below it. It first unmounts
// (MNT_DETACH) every mount at or below path (read /proc/self/mountinfo,
// deepest first), then deletes with an fd-based walk (unlinkat relative to
// dir fds opened O_NOFOLLOW|O_DIRECTORY) that refuses to descend into a
// directory on another device or mount than path itself -- SECURITY.md
// rule 10. A missing path is not an error. Directories whose mode is 0000 or
// read-only are made writable as needed; immutable and append-only files are
// not handled.
//
// If path itself is a symlink, the symlink is removed, not its target.
func RemoveAll(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	if abs == "/" {
		return errdefs.InvalidArgument(fmt.Errorf("remove %q: refusing to remove /", path))
	}
	parent, base := filepath.Split(abs)
	parent, err = filepath.EvalSymlinks(parent)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	// A host path, not image content: the mount points below it are
	// matched against mountinfo's canonical paths.
	full := strings.TrimSuffix(parent, "/") + "/" + base
	if err := unmountUnder(full); err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	pfd, err := openat(unix.AT_FDCWD, parent, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %q: open parent: %w", path, err)
	}
	defer unix.Close(pfd)
	// Everything at or below path is unmounted now: it must all be on the
	// parent's mount. Measuring the walk against the parent (not path)
	// also refuses path itself if it still is a mount point.
	var stx unix.Statx_t
	if err := statxFd(pfd, &stx); err != nil {
		return fmt.Errorf("remove %q: stat parent: %w", path, err)
	}
	rm := newRemover(mountOf(&stx))
	if err := rm.removeEntry(pfd, base, full); err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	return nil
}

// remover deletes trees with unlinkat relative to directory fds, never
// leaving the mount it was made for.
type remover struct {
	root mountID
	buf  []byte
	seq  int
}

func newRemover(root mountID) *remover {
	return &remover{root: root, buf: make([]byte, 64<<10)}
}

// removeEntry removes name in dirfd and, if it is a directory, everything
// below it. p names it in errors. A missing name is not an error.
func (rm *remover) removeEntry(dirfd int, name, p string) error {
	err := rm.unlink(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("%q: unlink: %w", shortName(p), err)
	}
	return rm.removeDir(dirfd, name, p)
}

// removeDir removes the directory name in dirfd and everything below it.
func (rm *remover) removeDir(dirfd int, name, p string) error {
	fd, err := rm.openDir(dirfd, name, p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	err = rm.empty(fd, fd, p, 0)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := rm.unlink(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%q: rmdir: %w", shortName(p), err)
	}
	return nil
}

// openDir opens the directory name in dirfd without following a symlink,
// making it searchable if it is not, and refuses one on another mount.
func (rm *remover) openDir(dirfd int, name, p string) (int, error) {
	fd, err := openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.EACCES) {
		// Either name is not readable or dirfd is not searchable.
		rm.makeWritable(dirfd)
		if cerr := fchmodatNoFollow(dirfd, name, 0o700); cerr == nil {
			fd, err = openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, err
		}
		return -1, fmt.Errorf("%q: open: %w", shortName(p), err)
	}
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%q: stat: %w", shortName(p), err)
	}
	if !sameMount(rm.root, mountOf(&stx)) {
		unix.Close(fd)
		return -1, errdefs.Unsafe(fmt.Errorf("%q is on another file system or mount: refusing to remove it", shortName(p)))
	}
	return fd, nil
}

// unlink is unlinkat that makes dirfd writable and retries once when it is
// not.
func (rm *remover) unlink(dirfd int, name string, flags int) error {
	err := retryEINTR(func() error { return unix.Unlinkat(dirfd, name, flags) })
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		if rm.makeWritable(dirfd) {
			err = retryEINTR(func() error { return unix.Unlinkat(dirfd, name, flags) })
		}
	}
	return err
}

// makeWritable adds owner rwx to the directory open as fd; it reports
// whether it changed anything.
func (rm *remover) makeWritable(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&0o700 == 0o700 {
		return false
	}
	return unix.Fchmod(fd, (st.Mode&0o7777)|0o700) == nil
}

// empty removes everything in the directory open as fd (named p), which is
// depth levels below top, the directory the removal started from.
func (rm *remover) empty(fd, top int, p string, depth int) error {
	for {
		ents, err := readDirents(fd, rm.buf)
		if errors.Is(err, unix.EACCES) && rm.makeWritable(fd) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%q: read directory: %w", shortName(p), err)
		}
		if len(ents) == 0 {
			return nil
		}
		for _, e := range ents {
			if err := rm.child(fd, top, e, joinPath(p, e.name), depth); err != nil {
				return err
			}
		}
	}
}

// child removes one entry of a directory being emptied.
func (rm *remover) child(fd, top int, e dirent, p string, depth int) error {
	if e.dtype != unix.DT_DIR {
		err := rm.unlink(fd, e.name, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EISDIR) {
			return fmt.Errorf("%q: unlink: %w", shortName(p), err)
		}
	}
	if depth+1 >= maxRemoveDepth {
		return rm.moveUp(fd, top, e.name, p)
	}
	sub, err := rm.openDir(fd, e.name, p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	err = rm.empty(sub, top, p, depth+1)
	unix.Close(sub)
	if err != nil {
		return err
	}
	if err := rm.unlink(fd, e.name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%q: rmdir: %w", shortName(p), err)
	}
	return nil
}

// moveUp renames a directory found too deep to a fresh name in top, where
// the walk over top will find and remove it.
func (rm *remover) moveUp(fd, top int, name, p string) error {
	// Renaming a directory to another parent updates its "..": it must be
	// writable, and on the same mount (renameat2 fails with EXDEV if not).
	if sub, err := rm.openDir(fd, name, p); err == nil {
		rm.makeWritable(sub)
		unix.Close(sub)
	} else {
		return err
	}
	for {
		rm.seq++
		tmp := ".rkt-remove-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(rm.seq)
		err := unix.Renameat2(fd, name, top, tmp, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%q: move up: %w", shortName(p), err)
		}
		return nil
	}
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	id    uint64
	point string
}

// unmountUnder detaches every mount at or below full, deepest first, until
// none is left.
func unmountUnder(full string) error {
	for range 64 {
		mounts, err := mountsUnder(full)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		var lastErr error
		progress := false
		for _, m := range mounts {
			if err := unmountOne(m); err != nil {
				lastErr = fmt.Errorf("unmount %q: %w", m.point, err)
				continue
			}
			progress = true
		}
		if !progress {
			return lastErr
		}
	}
	return fmt.Errorf("unmount below %q: mounts keep reappearing", full)
}

var errNotTopMount = errors.New("another mount is stacked on it")

// unmountOne detaches m. It opens the mount point and checks that it
// reached mount m before detaching it through /proc/self/fd, so that a
// path changed under us cannot make it detach another mount.
func unmountOne(m mountEntry) error {
	fd, err := openat(unix.AT_FDCWD, m.point, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		return err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		err = unix.Unmount(m.point, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
	} else {
		if stx.Mnt_id != m.id {
			return errNotTopMount
		}
		err = unix.Unmount("/proc/self/fd/"+strconv.Itoa(fd), unix.MNT_DETACH)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // no longer mounted: a parent's detach took it along
	}
	return err
}

// mountsUnder returns the mounts at or below full, deepest first and, at
// the same point, the most recent first.
func mountsUnder(full string) ([]mountEntry, error) {
	// thread-self: a caller may have unshared its mount namespace on a
	// locked thread.
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		b, err = os.ReadFile("/proc/self/mountinfo")
	}
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		point := unescapeMountPath(f[4])
		if point == full || strings.HasPrefix(point, full+"/") {
			out = append(out, mountEntry{id: id, point: point})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	slices.SortStableFunc(out, func(a, b mountEntry) int {
		if da, db := strings.Count(a.point, "/"), strings.Count(b.point, "/"); da != db {
			return db - da
		}
		if a.id > b.id {
			return -1
		}
		if a.id < b.id {
			return 1
		}
		return 0
	})
	return out, nil
}

// unescapeMountPath undoes the octal escapes (\040 for a space...) of a
// mountinfo path.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
