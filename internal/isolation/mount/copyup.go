package mount

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxCopyDepth bounds the directory nesting CopyTree follows.
const maxCopyDepth = 256

// CopyTree copies the directory at p inside root (resolved by fd with
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) into dst, a trusted, empty host
// directory: docker's copy-up of an image's content into a new volume.
// Directories, regular files (hard links kept as links), symlinks (copied
// as links, never followed), fifos and device nodes are copied with their
// modes, owners and modification times; sockets are skipped, and so are
// extended attributes. dst takes p's own mode and owner. A missing p, or
// one that is not a directory, copies nothing.
//
// ids maps owners back when root is seen through idmapped mounts: an owner
// in ids' range is stored minus ids.Shift, as the volume's own idmapped
// mount will show it again. The zero IDShift copies owners as they are.
func CopyTree(root int, p, dst string, ids IDShift) error {
	src, err := OpenInRoot(root, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy-up of %q: %w", p, err)
	}
	defer unix.Close(src)
	dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copy-up of %q: %w", p, err)
	}
	defer unix.Close(dfd)
	c := copier{links: map[[2]uint64]copied{}, ids: ids}
	defer func() {
		for _, fd := range c.open {
			unix.Close(fd)
		}
	}()
	if err := c.dir(src, dfd, "/"+clean(p), 0); err != nil {
		return fmt.Errorf("copy-up of %q: %w", p, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	return setMeta(dfd, p, ids.back(st))
}

// IDShift is a range of host IDs [Shift, Shift+Size) that stands for IDs
// from 0 (a user namespace's mapping).
type IDShift struct{ Shift, Size uint32 }

// back returns st with an owner in the range moved back to its ID in the
// namespace.
func (s IDShift) back(st unix.Stat_t) unix.Stat_t {
	if s.Size == 0 {
		return st
	}
	if st.Uid >= s.Shift && st.Uid-s.Shift < s.Size {
		st.Uid -= s.Shift
	}
	if st.Gid >= s.Shift && st.Gid-s.Shift < s.Size {
		st.Gid -= s.Shift
	}
	return st
}

type copied struct {
	dir  int // fd of the destination directory of the first copy
	name string
}

type copier struct {
	links map[[2]uint64]copied
	open  []int
	ids   IDShift
}

func (c *copier) dir(src, dst int, where string, depth int) error {
	if depth > maxCopyDepth {
		return fmt.Errorf("%s: more than %d directories deep", where, maxCopyDepth)
	}
	names, err := readNames(src, where)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.entry(src, dst, name, where+"/"+name, depth); err != nil {
			return err
		}
	}
	return nil
}

// readNames lists the directory fd refers to, without moving fd's offset
// for anyone else (it reads through a duplicate).
func readNames(fd int, where string) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	f := os.NewFile(uintptr(dup), where)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return names, nil
}

func (c *copier) entry(src, dst int, name, where string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		defer unix.Close(s)
		d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		defer unix.Close(d)
		if err := c.dir(s, d, where, depth+1); err != nil {
			return err
		}
		return setMeta(d, where, c.ids.back(st))
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if st.Nlink > 1 {
			if first, ok := c.links[key]; ok {
				if err := unix.Linkat(first.dir, first.name, dst, name, 0); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				return nil
			}
		}
		if err := copyFile(src, dst, name, where); err != nil {
			return err
		}
		if st.Nlink > 1 {
			d, err := unix.Dup(dst)
			if err == nil {
				unix.CloseOnExec(d)
				c.open = append(c.open, d)
				c.links[key] = copied{dir: d, name: name}
			}
		}
		return setMetaAt(dst, name, c.ids.back(st))
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := unix.Symlinkat(string(buf[:n]), dst, name); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		ts := []unix.Timespec{st.Atim, st.Mtim}
		_ = unix.UtimesNanoAt(dst, name, ts, unix.AT_SYMLINK_NOFOLLOW)
		return nil
	case unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK:
		if err := unix.Mknodat(dst, name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil { //nolint:gosec // device numbers fit
			return fmt.Errorf("%s: %w", where, err)
		}
		return setMetaAt(dst, name, c.ids.back(st))
	default: // sockets
		return nil
	}
}

func copyFile(src, dst int, name, where string) error {
	in, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	inf := os.NewFile(uintptr(in), where)
	defer inf.Close()
	out, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	outf := os.NewFile(uintptr(out), where)
	if _, err := io.Copy(outf, inf); err != nil {
		outf.Close()
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := outf.Close(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// setMetaAt applies st's owner, mode and times to the entry name of dir,
// which we just created (not a symlink).
func setMetaAt(dir int, name string, st unix.Stat_t) error {
	if err := unix.Fchownat(dir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	if err := unix.Fchmodat(dir, name, st.Mode&0o7777, 0); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	_ = unix.UtimesNanoAt(dir, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	return nil
}

// setMeta applies st's owner, then mode (chown clears set-id bits), then
// times, to the open directory fd.
func setMeta(fd int, where string, st unix.Stat_t) error {
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", where, err)
	}
	if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod %s: %w", where, err)
	}
	_ = unix.Futimes(fd, []unix.Timeval{unix.NsecToTimeval(unix.TimespecToNsec(st.Atim)), unix.NsecToTimeval(unix.TimespecToNsec(st.Mtim))})
	return nil
}
