package rootfs

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// maxCreateTries bounds the create / remove-existing / create-again loop.
const maxCreateTries = 3

// entryParent returns the open parent directory of the entry at p and the
// last component of p. Entries reached through a symlinked parent cannot be
// tracked by path for the streamed tree hash.
func (a *applier) entryParent(hdr *tar.Header, p string) (*parentDir, string, error) {
	par, base, err := a.parentOf(p)
	if err != nil {
		return nil, "", entryError(hdr.Name, "open parent directory", err)
	}
	if par.viaSymlink {
		a.noStream()
	}
	return par, base, nil
}

// create runs mk, which creates base in par without following symlinks;
// when base exists it removes it (recursively for a directory) and retries.
func (a *applier) create(par *parentDir, base, p string, mk func() error) error {
	for try := 1; ; try++ {
		err := retryEINTR(mk)
		if !errors.Is(err, unix.EEXIST) || try == maxCreateTries {
			return err
		}
		if err := a.removeExisting(par, base, p); err != nil {
			return err
		}
	}
}

// removeExisting removes what is at base in par, never crossing a mount.
func (a *applier) removeExisting(par *parentDir, base, p string) error {
	a.cacheDirty = true
	a.noStream()
	return a.rm.removeEntry(par.fd, base, p)
}

// mkdir applies a directory entry. Its metadata is set at the end.
func (a *applier) mkdir(hdr *tar.Header, p string) error {
	uid, gid := headerIDs(hdr)
	meta := &dirMeta{
		perm:   headerPerm(hdr),
		owned:  true,
		uid:    uid,
		gid:    gid,
		times:  headerTimes(hdr),
		xattrs: a.headerXattrs(hdr, true),
		name:   hdr.Name,
	}
	a.touch(p)
	if p == "" {
		a.pending[""].meta = meta
		return nil
	}
	par, base, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	for try := 1; try <= maxCreateTries; try++ {
		err := retryEINTR(func() error { return unix.Mkdirat(par.fd, base, 0o700|meta.perm&0o777) })
		if err == nil {
			return a.madeDir(hdr, par, base, p, meta)
		}
		if !errors.Is(err, unix.EEXIST) {
			return entryError(hdr.Name, "mkdir", err)
		}
		var stx unix.Statx_t
		if err := statxAt(par.fd, base, &stx); err != nil {
			return entryError(hdr.Name, "stat", err)
		}
		if stx.Mode&unix.S_IFMT == unix.S_IFDIR {
			// Directory over directory: only the metadata changes.
			if pd := a.pending[p]; pd != nil && pd.id == idOf(&stx) {
				pd.meta = meta
			} else {
				a.setPending(p, &pendingDir{id: idOf(&stx), meta: meta})
			}
			return nil
		}
		if err := a.removeExisting(par, base, p); err != nil {
			return entryError(hdr.Name, "replace", err)
		}
	}
	return entryError(hdr.Name, "mkdir", unix.EEXIST)
}

// madeDir records a directory just created and makes it the cached parent:
// the next entries are likely to be in it.
func (a *applier) madeDir(hdr *tar.Header, par *parentDir, base, p string, meta *dirMeta) error {
	fd, err := openat(par.fd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return entryError(hdr.Name, "open", err)
	}
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		unix.Close(fd)
		return entryError(hdr.Name, "stat", err)
	}
	a.setPending(p, &pendingDir{id: idOf(&stx), meta: meta})
	next := &parentDir{
		path:       p,
		fd:         fd,
		viaSymlink: par.viaSymlink,
		setgid:     stx.Mode&unix.S_ISGID != 0,
		gid:        stx.Gid,
		defaultACL: par.defaultACL,
	}
	if a.cacheDirty {
		unix.Close(fd)
		return nil
	}
	a.dropCache() // par may be the cache: it is not used after this
	a.cache = next
	return nil
}

// file applies a regular file entry.
func (a *applier) file(hdr *tar.Header, p string, r io.Reader) error {
	if hdr.Size < 0 {
		return entryError(hdr.Name, "create", errors.New("negative size"))
	}
	a.content += hdr.Size
	if a.content > a.opts.Limits.MaxBytes {
		return errdefs.TooLarge(fmt.Errorf("layer exceeds %s of file content", humanSize(a.opts.Limits.MaxBytes)))
	}
	par, base, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	perm := headerPerm(hdr)
	fd := -1
	err = a.create(par, base, p, func() error {
		var err error
		fd, err = openat(par.fd, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY, perm&0o777)
		return err
	})
	if err != nil {
		return entryError(hdr.Name, "create", err)
	}
	defer unix.Close(fd)
	var h hash.Hash
	if a.records != nil {
		h = sha256.New()
	}
	if err := a.copyContent(fd, r, h); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return entryError(hdr.Name, "read", fmt.Errorf("layer truncated: %w", err))
		}
		return entryError(hdr.Name, "write", err)
	}
	xattrs := a.headerXattrs(hdr, false)
	if err := a.setFileMeta(fd, hdr, perm, par, xattrs); err != nil {
		return err
	}
	a.touch(p)
	if a.records == nil {
		return nil
	}
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		return entryError(hdr.Name, "stat", err)
	}
	m := metaFromStatx(&stx)
	h.Sum(m.content[:0])
	if len(xattrs) > 0 {
		// Read back what the kernel kept: it converts some capabilities.
		// A new file has no other xattr in the hashed namespaces.
		if m.xattrs, err = readXattrs(fd); err != nil {
			return entryError(hdr.Name, "read xattrs", err)
		}
	}
	a.record(p, m.digest())
	return nil
}

// copyContent writes the entry's content from r to fd through the shared
// buffer, hashing it into h if not nil.
func (a *applier) copyContent(fd int, r io.Reader, h hash.Hash) error {
	for {
		n, err := r.Read(a.buf)
		if n > 0 {
			if werr := writeAll(fd, a.buf[:n]); werr != nil {
				return werr
			}
			if h != nil {
				h.Write(a.buf[:n])
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// setFileMeta sets owner, mode, xattrs and times of a regular file just
// written, skipping the calls that would change nothing. Order matters:
// chown clears setuid/setgid and file capabilities, so it comes first.
func (a *applier) setFileMeta(fd int, hdr *tar.Header, perm uint32, par *parentDir, xattrs []xattr) error {
	chowned := false
	if a.opts.Chown {
		gid := a.egid
		if par.setgid {
			gid = par.gid
		}
		if uid, hgid := headerIDs(hdr); uid != a.euid || hgid != gid {
			if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
				return entryError(hdr.Name, "chown", err)
			}
			chowned = true
		}
	}
	if chowned || perm&0o7000 != 0 || perm&a.umask != 0 || par.defaultACL {
		if err := unix.Fchmod(fd, perm); err != nil {
			return entryError(hdr.Name, "chmod", err)
		}
	}
	if err := a.setXattrs(fd, xattrs, hdr.Name); err != nil {
		return err
	}
	ts := headerTimes(hdr)
	if err := futimens(fd, &ts); err != nil {
		return entryError(hdr.Name, "set times", err)
	}
	return nil
}

// setNodeMeta sets owner, mode and times of a symlink, device or FIFO
// without following it.
func (a *applier) setNodeMeta(hdr *tar.Header, par *parentDir, base string, perm uint32, created uint32) error {
	if uid, gid := headerIDs(hdr); a.opts.Chown && (uid != a.euid || gid != a.egid || par.setgid) {
		err := unix.Fchownat(par.fd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil {
			return entryError(hdr.Name, "chown", err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink && (perm != created || par.defaultACL) {
		if err := fchmodatNoFollow(par.fd, base, perm); err != nil {
			return entryError(hdr.Name, "chmod", err)
		}
	}
	ts := headerTimes(hdr)
	if err := unix.UtimesNanoAt(par.fd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return entryError(hdr.Name, "set times", err)
	}
	return nil
}

// recordNode stores the tree hash record of a non-regular, non-directory
// file base in par.
func (a *applier) recordNode(par *parentDir, base, p, target string) error {
	if a.records == nil {
		return nil
	}
	var stx unix.Statx_t
	if err := statxAt(par.fd, base, &stx); err != nil {
		return entryError(p, "stat", err)
	}
	m := metaFromStatx(&stx)
	m.target = target
	a.record(p, m.digest())
	return nil
}

// symlink applies a symlink entry. The target is stored as it is: it is
// only ever interpreted inside the root.
func (a *applier) symlink(hdr *tar.Header, p string) error {
	if hdr.Linkname == "" {
		return entryError(hdr.Name, "symlink", errors.New("empty target"))
	}
	a.warnXattrs(hdr)
	par, base, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	if err := a.create(par, base, p, func() error { return unix.Symlinkat(hdr.Linkname, par.fd, base) }); err != nil {
		return entryError(hdr.Name, "symlink", err)
	}
	if err := a.setNodeMeta(hdr, par, base, 0, 0); err != nil {
		return err
	}
	a.touch(p)
	return a.recordNode(par, base, p, hdr.Linkname)
}

// warnXattrs reports the xattrs of an entry that cannot carry any.
func (a *applier) warnXattrs(hdr *tar.Header) {
	for k := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			a.debugf("skip xattr %q of layer entry %q: only regular files and directories carry xattrs", shortName(name), shortName(hdr.Name))
		}
	}
}

// hardlink applies a hardlink entry: the target is resolved inside the
// root and linked with linkat, which does not follow a symlink target.
func (a *applier) hardlink(hdr *tar.Header, p string) error {
	a.warnXattrs(hdr)
	tp, err := CleanName(hdr.Linkname)
	if err != nil {
		return errdefs.Unsafe(fmt.Errorf("layer entry %q: hardlink target %q escapes the root", shortName(hdr.Name), shortName(hdr.Linkname)))
	}
	if tp == "" {
		return errdefs.Unsafe(entryError(hdr.Name, "hardlink", errors.New("target is the root directory")))
	}
	if tp == p {
		return errdefs.InvalidArgument(entryError(hdr.Name, "hardlink", errors.New("links to itself")))
	}
	tdir, tbase := splitPath(tp)
	tfd, tvia := a.root, false
	if tdir != "" {
		tfd, tvia, err = a.openDir(tdir)
		if errors.Is(err, unix.ENOENT) {
			return entryError(hdr.Name, "hardlink", fmt.Errorf("target %q does not exist", shortName(hdr.Linkname)))
		}
		if err != nil {
			return entryError(hdr.Name, fmt.Sprintf("hardlink target %q", shortName(hdr.Linkname)), err)
		}
		defer unix.Close(tfd)
	}
	var stx unix.Statx_t
	if err := statxAt(tfd, tbase, &stx); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return entryError(hdr.Name, "hardlink", fmt.Errorf("target %q does not exist", shortName(hdr.Linkname)))
		}
		return entryError(hdr.Name, fmt.Sprintf("hardlink target %q", shortName(hdr.Linkname)), err)
	}
	switch stx.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return errdefs.Unsafe(entryError(hdr.Name, "hardlink", fmt.Errorf("target %q is a directory", shortName(hdr.Linkname))))
	case unix.S_IFCHR, unix.S_IFBLK:
		// A second name would take a device node out of /dev, where the
		// runtime's own /dev does not hide it. A 0/0 whiteout is harmless.
		if !strings.HasPrefix(p, "dev/") && (stx.Rdev_major != 0 || stx.Rdev_minor != 0) {
			a.debugf("skip layer entry %q: hardlink to a device node outside /dev", shortName(hdr.Name))
			return nil
		}
	}
	par, base, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	if err := a.create(par, base, p, func() error { return unix.Linkat(tfd, tbase, par.fd, base, 0) }); err != nil {
		return entryError(hdr.Name, "hardlink", err)
	}
	a.touch(p)
	if a.records != nil {
		d, ok := a.records.get(tp)
		if tvia || !ok {
			a.noStream()
		} else {
			a.record(p, d)
		}
	}
	return nil
}

// device applies a character or block device entry: only below dev/, only
// with Chown, and not through a symlinked directory.
func (a *applier) device(hdr *tar.Header, p string) error {
	a.warnXattrs(hdr)
	if !strings.HasPrefix(p, "dev/") {
		a.debugf("skip layer entry %q: device node outside /dev", shortName(hdr.Name))
		return nil
	}
	if !a.opts.Chown {
		a.debugf("skip layer entry %q: device nodes are only created with Chown", shortName(hdr.Name))
		return nil
	}
	if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > 1<<12-1 || hdr.Devminor > 1<<20-1 {
		return errdefs.InvalidArgument(entryError(hdr.Name, "mknod", fmt.Errorf("invalid device number %d:%d", hdr.Devmajor, hdr.Devminor)))
	}
	par, base, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	if par.viaSymlink {
		a.debugf("skip layer entry %q: device node below a symlinked directory", shortName(hdr.Name))
		return nil
	}
	typ := uint32(unix.S_IFCHR)
	if hdr.Typeflag == tar.TypeBlock {
		typ = unix.S_IFBLK
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	return a.node(hdr, par, base, p, typ, dev)
}

// fifo applies a FIFO entry.
func (a *applier) fifo(hdr *tar.Header, p string) error {
	a.warnXattrs(hdr)
	par, base, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	return a.node(hdr, par, base, p, unix.S_IFIFO, 0)
}

// node creates a device or FIFO.
func (a *applier) node(hdr *tar.Header, par *parentDir, base, p string, typ uint32, dev uint64) error {
	perm := headerPerm(hdr)
	//nolint:gosec // G115: dev < 2^44 (major < 2^12 and minor < 2^20 were checked)
	err := a.create(par, base, p, func() error { return unix.Mknodat(par.fd, base, typ|perm&0o777, int(dev)) })
	if err != nil {
		return entryError(hdr.Name, "mknod", err)
	}
	if err := a.setNodeMeta(hdr, par, base, perm, perm&0o777&^a.umask); err != nil {
		return err
	}
	a.touch(p)
	return a.recordNode(par, base, p, "")
}

// whiteout applies `.wh.NAME` in dir.
func (a *applier) whiteout(hdr *tar.Header, dir, name string) error {
	p := joinPath(dir, name)
	if a.opts.Whiteouts == WhiteoutApply {
		par, err := a.parent(dir, false)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // nothing to remove
		}
		if err != nil {
			return entryError(hdr.Name, "open parent directory", err)
		}
		a.cacheDirty = true
		if err := a.rm.removeEntry(par.fd, name, p); err != nil {
			return entryError(hdr.Name, "whiteout", err)
		}
		return nil
	}
	par, _, err := a.entryParent(hdr, p)
	if err != nil {
		return err
	}
	err = a.create(par, name, p, func() error { return unix.Mknodat(par.fd, name, unix.S_IFCHR, 0) })
	if err != nil {
		return entryError(hdr.Name, "create whiteout", err)
	}
	if uid, gid := headerIDs(hdr); a.opts.Chown && (uid != a.euid || gid != a.egid || par.setgid) {
		if err := unix.Fchownat(par.fd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return entryError(hdr.Name, "chown", err)
		}
	}
	return a.recordNode(par, name, p, "")
}

// opaque applies `.wh..wh..opq` in dir.
func (a *applier) opaque(hdr *tar.Header, dir string) error {
	if a.opts.Whiteouts == WhiteoutApply {
		return a.opaqueApply(hdr, dir)
	}
	var par *parentDir
	var err error
	if dir == "" {
		par = &a.rootPar
	} else {
		par, _, err = a.entryParent(hdr, dir+"/"+whiteoutOpaqueDir)
		if err != nil {
			return err
		}
	}
	if err := unix.Fsetxattr(par.fd, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return entryError(hdr.Name, "set opaque xattr", err)
	}
	return nil
}

// opaqueApply removes the children of dir that this layer did not write.
func (a *applier) opaqueApply(hdr *tar.Header, dir string) error {
	par, err := a.parent(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return entryError(hdr.Name, "open directory", err)
	}
	ents, err := readDirents(par.fd, a.rm.buf)
	if err != nil {
		return entryError(hdr.Name, "read directory", err)
	}
	a.touch(dir)
	for _, e := range ents {
		child := joinPath(dir, e.name)
		if _, ok := a.touched[child]; ok {
			continue
		}
		a.cacheDirty = true
		if err := a.rm.removeEntry(par.fd, e.name, child); err != nil {
			return entryError(hdr.Name, "opaque", err)
		}
	}
	return nil
}
