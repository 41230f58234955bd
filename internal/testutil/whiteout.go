package testutil

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// RootfsEntry is what one path of an extracted rootfs must be.
type RootfsEntry struct {
	// Path is relative to the rootfs, without a leading slash.
	Path string
	// Type is tar.TypeReg, tar.TypeDir or tar.TypeSymlink.
	Type byte
	// Mode is the permission bits plus fs.ModeSetuid, fs.ModeSetgid and
	// fs.ModeSticky; 0 means "do not check".
	Mode fs.FileMode
	// Uid and Gid are the owner.
	Uid, Gid int
	// Body is the content of a regular file.
	Body string
	// Linkname is the target of a symlink.
	Linkname string
	// SameFileAs names another regular file that this one must be a hard
	// link of (same inode).
	SameFileAs string
}

// RootfsExpect describes a flattened rootfs: paths that must be there as
// described, and paths that must not exist.
type RootfsExpect struct {
	Entries []RootfsEntry
	Absent  []string
}

// WhiteoutImage returns a three-layer OCI image that exercises layer
// flattening, and what its extracted rootfs must hold:
//
//   - layer 1: files, a relative and an absolute symlink, a hard link pair
//     (usr/bin/tool, usr/bin/tool-hardlink), a setuid-root and a setgid
//     file, a home directory and file owned by uid/gid 1000, a sticky /tmp,
//     a directory deldir/, a directory opaque/ with content, a file that
//     becomes a directory and a directory that becomes a file.
//   - layer 2: whiteouts of a file (.wh.deleted.conf) and of a directory
//     (.wh.deldir), an opaque whiteout of opaque/ with a new file, the
//     file→dir and dir→file replacements, a changed file, a new hard link
//     pair (data/x, data/x-link).
//   - layer 3: a whiteout of one name of a hard link pair (the other must
//     keep the content), deldir/ recreated with a new file, and a whiteout
//     of a path that never existed.
func WhiteoutImage(t testing.TB) (v1.Image, RootfsExpect) {
	t.Helper()
	l1 := Layer(t, []TarEntry{
		Dir("etc/", 0o755),
		File("etc/keep.conf", 0o644, "keep\n"),
		File("etc/deleted.conf", 0o644, "deleted\n"),
		File("etc/changed.conf", 0o644, "v1\n"),
		Symlink("etc/keep-link", "keep.conf"),
		Symlink("etc/abs-link", "/etc/keep.conf"),
		Dir("deldir/", 0o755),
		File("deldir/a", 0o644, "a\n"),
		Dir("deldir/sub/", 0o755),
		File("deldir/sub/b", 0o644, "b\n"),
		Dir("opaque/", 0o755),
		File("opaque/old1", 0o644, "old1\n"),
		Dir("opaque/sub/", 0o755),
		File("opaque/sub/old2", 0o644, "old2\n"),
		Dir("usr/", 0o755),
		Dir("usr/bin/", 0o755),
		File("usr/bin/tool", 0o755, "tool v1\n"),
		Hardlink("usr/bin/tool-hardlink", "usr/bin/tool"),
		File("usr/bin/suid", 0o4755, "setuid root\n"),
		{Name: "usr/bin/sgid", Type: tar.TypeReg, Mode: 0o2755, Gid: 50, Body: []byte("setgid staff\n")},
		Dir("home/", 0o755),
		{Name: "home/user/", Type: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000},
		{Name: "home/user/owned", Type: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1000, Body: []byte("mine\n")},
		Dir("tmp/", 0o1777),
		Dir("var/", 0o755),
		File("var/replaced", 0o644, "a file\n"),
		Dir("var/wasdir/", 0o755),
		File("var/wasdir/x", 0o644, "x\n"),
	}, Gzip)
	l2 := Layer(t, []TarEntry{
		Dir("etc/", 0o755),
		Whiteout("etc/deleted.conf"),
		File("etc/changed.conf", 0o644, "v2\n"),
		Whiteout("deldir"),
		Dir("opaque/", 0o755),
		OpaqueWhiteout("opaque"),
		File("opaque/new", 0o644, "new\n"),
		Dir("var/", 0o755),
		Dir("var/replaced/", 0o755),
		File("var/replaced/inner", 0o644, "inner\n"),
		File("var/wasdir", 0o644, "now a file\n"),
		Dir("data/", 0o755),
		File("data/x", 0o644, "x\n"),
		Hardlink("data/x-link", "data/x"),
	}, Gzip)
	l3 := Layer(t, []TarEntry{
		Dir("usr/", 0o755),
		Dir("usr/bin/", 0o755),
		Whiteout("usr/bin/tool"),
		Dir("deldir/", 0o700),
		File("deldir/fresh", 0o644, "fresh\n"),
		Dir("etc/", 0o755),
		Whiteout("etc/never-existed"),
	}, Gzip)
	img := Image(t, v1.Config{Cmd: []string{"/usr/bin/tool-hardlink"}}, l1, l2, l3)

	reg := func(p string, mode fs.FileMode, body string) RootfsEntry {
		return RootfsEntry{Path: p, Type: tar.TypeReg, Mode: mode, Body: body}
	}
	dir := func(p string, mode fs.FileMode) RootfsEntry {
		return RootfsEntry{Path: p, Type: tar.TypeDir, Mode: mode}
	}
	want := RootfsExpect{
		Entries: []RootfsEntry{
			dir("etc", 0o755),
			reg("etc/keep.conf", 0o644, "keep\n"),
			reg("etc/changed.conf", 0o644, "v2\n"),
			{Path: "etc/keep-link", Type: tar.TypeSymlink, Linkname: "keep.conf"},
			{Path: "etc/abs-link", Type: tar.TypeSymlink, Linkname: "/etc/keep.conf"},
			dir("deldir", 0o700),
			reg("deldir/fresh", 0o644, "fresh\n"),
			dir("opaque", 0o755),
			reg("opaque/new", 0o644, "new\n"),
			reg("usr/bin/tool-hardlink", 0o755, "tool v1\n"),
			reg("usr/bin/suid", 0o755|fs.ModeSetuid, "setuid root\n"),
			{Path: "usr/bin/sgid", Type: tar.TypeReg, Mode: 0o755 | fs.ModeSetgid, Gid: 50, Body: "setgid staff\n"},
			{Path: "home/user", Type: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000},
			{Path: "home/user/owned", Type: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1000, Body: "mine\n"},
			dir("tmp", 0o777|fs.ModeSticky),
			dir("var/replaced", 0o755),
			reg("var/replaced/inner", 0o644, "inner\n"),
			reg("var/wasdir", 0o644, "now a file\n"),
			reg("data/x", 0o644, "x\n"),
			{Path: "data/x-link", Type: tar.TypeReg, Mode: 0o644, Body: "x\n", SameFileAs: "data/x"},
		},
		Absent: []string{
			"etc/deleted.conf", "etc/.wh.deleted.conf",
			"etc/never-existed", "etc/.wh.never-existed",
			".wh.deldir", "deldir/a", "deldir/sub",
			"opaque/old1", "opaque/sub", "opaque/.wh..wh..opq",
			"usr/bin/tool", "usr/bin/.wh.tool",
			"var/wasdir/x",
		},
	}
	return img, want
}

// CheckRootfs reports, with t.Errorf, every way the tree at root differs
// from want. It never follows a symlink in the rootfs: a path whose parent
// is a symlink is an error.
func CheckRootfs(t testing.TB, root string, want RootfsExpect) {
	t.Helper()
	for _, err := range checkRootfs(root, want) {
		t.Errorf("rootfs %s: %v", root, err)
	}
}

func checkRootfs(root string, want RootfsExpect) []error {
	var errs []error
	for _, e := range want.Entries {
		if err := checkEntry(root, e); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Path, err))
		}
	}
	for _, p := range want.Absent {
		_, err := lstatNoFollow(root, p)
		switch {
		case err == nil:
			errs = append(errs, fmt.Errorf("%s: exists, want absent", p))
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR):
			errs = append(errs, fmt.Errorf("%s: want absent: %w", p, err))
		}
	}
	return errs
}

// lstatNoFollow lstats root/p after checking that no parent of p inside
// root is a symlink.
func lstatNoFollow(root, p string) (fs.FileInfo, error) {
	parts := strings.Split(strings.Trim(filepath.ToSlash(p), "/"), "/")
	cur := root
	for i, part := range parts {
		if part == "" || part == "." || part == ".." {
			return nil, fmt.Errorf("bad path component %q", part)
		}
		cur = filepath.Join(cur, part)
		st, err := os.Lstat(cur)
		if err != nil {
			return nil, err
		}
		if i < len(parts)-1 && st.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("parent %s is a symlink", strings.Join(parts[:i+1], "/"))
		}
		if i == len(parts)-1 {
			return st, nil
		}
	}
	return nil, fmt.Errorf("empty path")
}

func checkEntry(root string, e RootfsEntry) error {
	st, err := lstatNoFollow(root, e.Path)
	if err != nil {
		return err
	}
	switch e.Type {
	case tar.TypeReg:
		if !st.Mode().IsRegular() {
			return fmt.Errorf("is %v, want a regular file", st.Mode().Type())
		}
		b, err := os.ReadFile(filepath.Join(root, e.Path))
		if err != nil {
			return err
		}
		if string(b) != e.Body {
			return fmt.Errorf("content %q, want %q", b, e.Body)
		}
	case tar.TypeDir:
		if !st.IsDir() {
			return fmt.Errorf("is %v, want a directory", st.Mode().Type())
		}
	case tar.TypeSymlink:
		if st.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("is %v, want a symlink", st.Mode().Type())
		}
		l, err := os.Readlink(filepath.Join(root, e.Path))
		if err != nil {
			return err
		}
		if l != e.Linkname {
			return fmt.Errorf("symlink to %q, want %q", l, e.Linkname)
		}
	default:
		return fmt.Errorf("RootfsEntry type %q not supported", e.Type)
	}
	if e.Mode != 0 {
		const bits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
		if got := st.Mode() & bits; got != e.Mode {
			return fmt.Errorf("mode %v, want %v", got, e.Mode)
		}
	}
	if e.Type != tar.TypeSymlink {
		var sys unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, e.Path), &sys); err != nil {
			return fmt.Errorf("lstat: %w", err)
		}
		if int64(sys.Uid) != int64(e.Uid) || int64(sys.Gid) != int64(e.Gid) {
			return fmt.Errorf("owner %d:%d, want %d:%d", sys.Uid, sys.Gid, e.Uid, e.Gid)
		}
	}
	if e.SameFileAs != "" {
		other, err := lstatNoFollow(root, e.SameFileAs)
		if err != nil {
			return fmt.Errorf("hard link peer: %w", err)
		}
		if !os.SameFile(st, other) {
			return fmt.Errorf("not a hard link of %s", e.SameFileAs)
		}
	}
	return nil
}
