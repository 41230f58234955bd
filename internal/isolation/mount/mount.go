package mount

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// resolveInRoot confines every lookup to the root fd: absolute symlinks and
// ".." are clamped to the root and magic links (/proc/self/fd/N) are refused.
const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// Option is one file system parameter; an empty Value makes it a flag.
type Option struct {
	Key, Value string
}

// Attribute flags for MountFS, Bind and SetAttr (MOUNT_ATTR_*).
const (
	ReadOnly = unix.MOUNT_ATTR_RDONLY
	NoSuid   = unix.MOUNT_ATTR_NOSUID
	NoDev    = unix.MOUNT_ATTR_NODEV
	NoExec   = unix.MOUNT_ATTR_NOEXEC
)

// MakeRPrivate makes every mount of the caller's mount namespace private,
// so nothing mounted afterwards propagates back to the host.
func MakeRPrivate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / rprivate: %w", err)
	}
	return nil
}

// Overlay mounts an overlay file system on target (a trusted host path)
// with the given mount data (lowerdir=...,upperdir=...,workdir=...).
func Overlay(target, data string) error {
	if len(data) >= unix.Getpagesize() {
		return fmt.Errorf("overlay options for %s are %d bytes long, more than one page", target, len(data))
	}
	if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
		return fmt.Errorf("mounting overlay on %s: %w", target, err)
	}
	return nil
}

// OpenDir opens a trusted host directory as an O_PATH fd, to be used as the
// root of later *InRoot calls.
func OpenDir(p string) (int, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening %s: %w", p, err)
	}
	return fd, nil
}

// OpenInRoot resolves p inside root (RESOLVE_IN_ROOT) and opens it with
// flags (O_CLOEXEC is added).
func OpenInRoot(root int, p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveInRoot} //nolint:gosec // open flags are a non-negative bit mask
	for {
		fd, err := unix.Openat2(root, clean(p), &how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		return fd, err
	}
}

func clean(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// EnsureDir resolves p inside root, creating missing directories with mode,
// and returns an O_PATH fd of the directory it ends at. Symlinks met on the
// way, dangling ones included, are followed inside root only: an absolute
// link target starts again at root and ".." stops at root.
func EnsureDir(root int, p string, mode uint32) (int, error) {
	return ensureDir(root, clean(p), mode, 0)
}

func ensureDir(root int, c string, mode uint32, depth int) (int, error) {
	if depth > 40 {
		return -1, fmt.Errorf("resolving %q in the rootfs: %w", "/"+c, unix.ELOOP)
	}
	if fd, err := OpenInRoot(root, c, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		return fd, nil
	} else if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("resolving %q in the rootfs: %w", "/"+c, err)
	}
	comps := strings.Split(c, "/")
	parent := "."
	for i, comp := range comps {
		prefix := comp
		if parent != "." {
			prefix = parent + "/" + comp
		}
		fd, err := OpenInRoot(root, prefix, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			unix.Close(fd)
			parent = prefix
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("resolving %q in the rootfs: %w", "/"+prefix, err)
		}
		pfd, err := OpenInRoot(root, parent, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, fmt.Errorf("resolving %q in the rootfs: %w", "/"+parent, err)
		}
		err = unix.Mkdirat(pfd, comp, mode)
		if errors.Is(err, unix.EEXIST) {
			// A dangling symlink: create its target, inside root.
			buf := make([]byte, unix.PathMax)
			n, lerr := unix.Readlinkat(pfd, comp, buf)
			unix.Close(pfd)
			if lerr != nil {
				return -1, fmt.Errorf("creating %q in the rootfs: %w", "/"+prefix, err)
			}
			link := string(buf[:n])
			next := link
			if !path.IsAbs(link) {
				next = parent + "/" + link
			}
			if rest := strings.Join(comps[i+1:], "/"); rest != "" {
				next += "/" + rest
			}
			return ensureDir(root, clean(next), mode, depth+1)
		}
		unix.Close(pfd)
		if err != nil {
			return -1, fmt.Errorf("creating %q in the rootfs: %w", "/"+prefix, err)
		}
		parent = prefix
	}
	return OpenInRoot(root, c, unix.O_PATH|unix.O_DIRECTORY)
}

// EnsureFile resolves p inside root, creating an empty regular file (and its
// missing parents) when nothing is there, and returns an O_PATH fd of it. It
// fails when p resolves to a directory.
func EnsureFile(root int, p string, mode uint32) (int, error) {
	c := clean(p)
	fd, err := OpenInRoot(root, c, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		dir, derr := EnsureDir(root, path.Dir("/"+c), 0o755)
		if derr != nil {
			return -1, derr
		}
		unix.Close(dir)
		how := unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_NOCTTY | unix.O_CLOEXEC, Mode: uint64(mode), Resolve: resolveInRoot}
		wfd, werr := unix.Openat2(root, c, &how)
		if werr != nil {
			return -1, fmt.Errorf("creating %q in the rootfs: %w", "/"+c, werr)
		}
		unix.Close(wfd)
		fd, err = OpenInRoot(root, c, unix.O_PATH)
	}
	if err != nil {
		return -1, fmt.Errorf("resolving %q in the rootfs: %w", "/"+c, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("stat %q in the rootfs: %w", "/"+c, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		unix.Close(fd)
		return -1, fmt.Errorf("%q in the rootfs is a directory, want a file", "/"+c)
	}
	return fd, nil
}

// IsDir reports whether fd is a directory.
func IsDir(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// SymlinkInRoot creates the symlink p -> target inside root (parents are
// created); an existing entry at p is an error.
func SymlinkInRoot(root int, p, target string) error {
	c := clean(p)
	dir, err := EnsureDir(root, path.Dir("/"+c), 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := unix.Symlinkat(target, dir, path.Base("/"+c)); err != nil {
		return fmt.Errorf("creating symlink %q in the rootfs: %w", "/"+c, err)
	}
	return nil
}

// MknodInRoot creates the device node p inside root (mode: its type and
// permission bits, exactly: the umask does not apply) owned by uid:gid.
// Directories on the way are created as by EnsureDir.
func MknodInRoot(root int, p string, mode uint32, dev uint64, uid, gid int) error {
	c := clean(p)
	dir, err := EnsureDir(root, path.Dir("/"+c), 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	name := path.Base("/" + c)
	if err := unix.Mknodat(dir, name, mode, int(dev)); err != nil { //nolint:gosec // a device number fits an int on 64-bit Linux
		return fmt.Errorf("creating device %q in the rootfs: %w", "/"+c, err)
	}
	// Just made in a directory of ours: no link can stand in its place.
	if err := unix.Fchmodat(dir, name, mode&0o7777, 0); err != nil {
		return fmt.Errorf("chmod of device %q in the rootfs: %w", "/"+c, err)
	}
	if uid != 0 || gid != 0 {
		if err := unix.Fchownat(dir, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown of device %q in the rootfs: %w", "/"+c, err)
		}
	}
	return nil
}

// MountFS creates a new file system instance of fstype with opts and attrs
// (MOUNT_ATTR_*) and attaches it onto the opened target fd.
func MountFS(fstype string, opts []Option, attrs int, target int) error {
	mfd, err := NewFS(fstype, opts, attrs)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return attach(mfd, target, fstype)
}

// NewFS creates a new file system instance of fstype with opts and attrs
// (MOUNT_ATTR_*) as a detached mount, and returns its fd (close-on-exec):
// AttachAt or MountFS's target attach it.
func NewFS(fstype string, opts []Option, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	for _, o := range opts {
		if o.Value == "" {
			err = unix.FsconfigSetFlag(fsfd, o.Key)
		} else {
			err = unix.FsconfigSetString(fsfd, o.Key, o.Value)
		}
		if err != nil {
			return -1, fmt.Errorf("%s option %s=%s: %w", fstype, o.Key, o.Value, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("creating %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mfd, nil
}

// AttachAt attaches the detached mount from (NewFS) at p, a trusted host
// path.
func AttachAt(from int, p string) error {
	if err := unix.MoveMount(from, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching a mount at %s: %w", p, err)
	}
	return nil
}

// Bind clones the mount tree at source (a trusted host path; relative paths
// are relative to the working directory) and attaches it onto the opened
// target fd, with attrs applied to the clone before it becomes visible.
func Bind(source string, target int, recursive bool, attrs int) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	tfd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
	if err != nil {
		return fmt.Errorf("cloning mount of %s: %w", source, err)
	}
	defer unix.Close(tfd)
	if attrs != 0 {
		if err := SetAttr(tfd, attrs, recursive); err != nil {
			return err
		}
	}
	return attach(tfd, target, source)
}

// BindFD is Bind with the source given as an opened fd (O_PATH is
// enough): the mount at source is cloned, attrs applied, and the clone
// attached onto target, which may be the same fd (a bind of a path over
// itself).
func BindFD(source, target int, recursive bool, attrs int) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	tfd, err := unix.OpenTree(source, "", flags)
	if err != nil {
		return fmt.Errorf("cloning mount: %w", err)
	}
	defer unix.Close(tfd)
	if attrs != 0 {
		if err := SetAttr(tfd, attrs, recursive); err != nil {
			return err
		}
	}
	return attach(tfd, target, "bind")
}

// BindIdmapped is Bind with the clone also idmapped through the user
// namespace usernsFD (MOUNT_ATTR_IDMAP): a file the host sees owned by N
// is owned, inside that namespace, by the ID its mapping gives host ID N
// back, and a file created through the mount gets the host ID the
// creator's maps to. It needs Linux 5.12 and a file system that supports
// it.
func BindIdmapped(source string, target int, recursive bool, attrs, usernsFD int) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	tfd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
	if err != nil {
		return fmt.Errorf("cloning mount of %s: %w", source, err)
	}
	defer unix.Close(tfd)
	attr := &unix.MountAttr{Attr_set: uint64(attrs) | unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)} //nolint:gosec // MOUNT_ATTR_* are a non-negative bit mask, an fd is non-negative
	if err := unix.MountSetattr(tfd, "", setFlags, attr); err != nil {
		return fmt.Errorf("idmapping the mount of %s: %w", source, err)
	}
	return attach(tfd, target, source)
}

// IdmapOverSelf replaces the mount at the trusted host path p, in the
// caller's mount namespace only, by an idmapped clone of itself (see
// BindIdmapped).
func IdmapOverSelf(p string, usernsFD int) error {
	fd, err := OpenDir(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return BindIdmapped(p, fd, false, 0, usernsFD)
}

// SetAttr sets attrs (MOUNT_ATTR_*) on the mount fd refers to (and, with
// recursive, on the mounts below it).
func SetAttr(fd int, attrs int, recursive bool) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", flags, &unix.MountAttr{Attr_set: uint64(attrs)}); err != nil { //nolint:gosec // MOUNT_ATTR_* are a non-negative bit mask
		return fmt.Errorf("setting mount attributes: %w", err)
	}
	return nil
}

func attach(from, target int, what string) error {
	if err := unix.MoveMount(from, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching %s: %w", what, err)
	}
	return nil
}

// PivotRoot makes dir (a mount point) the root of the caller's mount
// namespace, detaches the old root and changes directory to the new "/".
func PivotRoot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", dir, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// MountTmpfs mounts a tmpfs with data on target (a trusted host path).
func MountTmpfs(target, data string) error {
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", target, err)
	}
	return nil
}

// maxStacked bounds the mounts Detach takes off one point.
const maxStacked = 64

// Detach lazily unmounts whatever is mounted at p (MNT_DETACH), so a busy
// mount goes away from the tree at once: every mount stacked there, the
// top one first. Nothing mounted there is not an error.
func Detach(p string) error {
	for range maxStacked {
		err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // not (or no longer) a mount point
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return fmt.Errorf("unmount %s: more than %d mounts stacked there", p, maxStacked)
}
