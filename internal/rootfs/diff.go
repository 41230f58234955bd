package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// WriteDiff writes the tree at dir as a tar layer to w, walking it by file
// descriptor without following any symlink. With overlay set, dir is an
// overlayfs upper directory and its whiteouts (0/0 character devices) and
// opaque directories (trusted.overlay.opaque=y) become OCI whiteout
// entries (.wh.NAME, .wh..wh..opq). Hard links within the tree stay hard
// links. Device nodes other than whiteouts are left out (rkt never
// creates them in images outside /dev; debugf is told). Only the safe
// xattrs are kept, as Apply keeps them.
func WriteDiff(dir string, w io.Writer, overlay bool, debugf func(string, ...any)) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	d := &differ{tw: tar.NewWriter(w), overlay: overlay, links: map[[2]uint64]string{}, debugf: debugf}
	if d.debugf == nil {
		d.debugf = func(string, ...any) {}
	}
	if err := d.dir(fd, ""); err != nil {
		return err
	}
	return d.tw.Close()
}

type differ struct {
	tw      *tar.Writer
	overlay bool
	links   map[[2]uint64]string
	debugf  func(string, ...any)
	buf     []byte
}

// dir writes the entries of the directory open at fd, whose tar name is
// prefix ("" for the root).
func (d *differ) dir(fd int, prefix string) error {
	names, err := readNames(fd, prefix)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", prefix, err)
	}
	if d.overlay && prefix != "" && opaque(fd) {
		if err := d.tw.WriteHeader(&tar.Header{Name: prefix + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := d.entry(fd, prefix, name); err != nil {
			return err
		}
	}
	return nil
}

// readNames lists the directory open at fd, sorted. It reads through a
// duplicate, as an *os.File closes its fd when it is collected.
func readNames(fd int, name string) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), name)
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (d *differ) entry(dirfd int, prefix, name string) error {
	path := name
	if prefix != "" {
		path = prefix + "/" + name
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %q: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return d.nonDir(dirfd, prefix, name, &st)
	}
	sub, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", path, err)
	}
	defer unix.Close(sub)
	if err := d.dirHeader(sub, path, &st); err != nil {
		return err
	}
	return d.dir(sub, path)
}

// header is the tar header of st's metadata, named path.
func header(path string, st *unix.Stat_t) *tar.Header {
	return &tar.Header{
		Name:    path,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Format:  tar.FormatPAX,
	}
}

// dirHeader writes the entry of the directory open at fd, named path.
func (d *differ) dirHeader(fd int, path string, st *unix.Stat_t) error {
	hdr := header(path+"/", st)
	hdr.Typeflag = tar.TypeDir
	d.xattrs(fd, hdr)
	return d.tw.WriteHeader(hdr)
}

// nonDir writes the entry of name in the directory open at dirfd, which
// st says is not a directory; prefix is the directory's tar name.
func (d *differ) nonDir(dirfd int, prefix, name string, st *unix.Stat_t) error {
	path := name
	if prefix != "" {
		path = prefix + "/" + name
	}
	hdr := header(path, st)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := readlinkat(dirfd, name)
		if err != nil {
			return fmt.Errorf("readlink %q: %w", path, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		return d.tw.WriteHeader(hdr)
	case unix.S_IFCHR:
		if d.overlay && st.Rdev == 0 {
			wh := ".wh." + name
			if prefix != "" {
				wh = prefix + "/" + wh
			}
			return d.tw.WriteHeader(&tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX})
		}
		d.debugf("export: leaving out device node %q", path)
		return nil
	case unix.S_IFBLK, unix.S_IFSOCK:
		d.debugf("export: leaving out %q (device or socket)", path)
		return nil
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return d.tw.WriteHeader(hdr)
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := d.links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return d.tw.WriteHeader(hdr)
		}
		d.links[key] = path
		return d.file(dirfd, name, hdr, st.Size)
	}
	return fmt.Errorf("%q: unknown file type %o", path, st.Mode&unix.S_IFMT)
}

func (d *differ) file(dirfd int, name string, hdr *tar.Header, size int64) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", hdr.Name, err)
	}
	f := os.NewFile(uintptr(fd), hdr.Name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != size {
		return fmt.Errorf("%q changed while it was read", hdr.Name)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, size
	d.xattrs(fd, hdr)
	if err := d.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if d.buf == nil {
		d.buf = make([]byte, 1<<20)
	}
	n, err := io.CopyBuffer(d.tw, io.LimitReader(f, size), d.buf)
	if err != nil {
		return fmt.Errorf("read %q: %w", hdr.Name, err)
	}
	if n != size {
		return fmt.Errorf("%q shrank while it was read", hdr.Name)
	}
	return nil
}

// xattrs copies the safe xattrs of fd into hdr.
func (d *differ) xattrs(fd int, hdr *tar.Header) {
	sz, err := unix.Flistxattr(fd, nil)
	if err != nil || sz <= 0 {
		return
	}
	buf := make([]byte, sz)
	sz, err = unix.Flistxattr(fd, buf)
	if err != nil {
		return
	}
	for _, key := range splitNUL(buf[:sz]) {
		if !allowedXattr(key, hdr.Typeflag == tar.TypeDir, hdr.Typeflag) {
			continue
		}
		val := make([]byte, 64<<10)
		n, err := unix.Fgetxattr(fd, key, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+key] = string(val[:n])
	}
}

func splitNUL(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
