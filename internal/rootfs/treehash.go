package rootfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxTreeDepth bounds the directory depth TreeHash walks. Entry names are at
// most 4096 bytes, so a layer written without symlinked parents is at most
// 2048 levels deep.
const maxTreeDepth = 4096

// TreeHash walks dir (never following symlinks, never crossing mounts) and
// returns the same value Apply returned as Result.TreeHash for a tree written
// with WhiteoutOverlay, so that a later `rkt image verify` can detect a
// modified rendered layer.
//
// Each file contributes its path, type, permission bits (with setuid, setgid
// and sticky), owner, and per type: size, content digest and modification
// time of regular files, target of symlinks, device numbers of devices, and
// the xattrs in the user.*, security.capability and trusted.overlay.*
// namespaces of regular files and directories. The root directory counts as
// ".". A mount anywhere below dir is an error.
func TreeHash(dir string) (string, error) {
	fd, err := openat(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", fmt.Errorf("tree hash of %q: open: %w", dir, err)
	}
	defer unix.Close(fd)
	recs, err := hashTree(fd)
	if err != nil {
		return "", fmt.Errorf("tree hash of %q: %w", dir, err)
	}
	return sumTree(recs), nil
}

// hashTree returns the per-path digests of the tree open as rootFd.
func hashTree(rootFd int) (*treeRecords, error) {
	var stx unix.Statx_t
	if err := statxFd(rootFd, &stx); err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	w := &treeWalker{
		root: mountOf(&stx),
		buf:  make([]byte, 1<<20),
		dbuf: make([]byte, 64<<10),
		recs: newTreeRecords(),
	}
	d, err := fdDigest(rootFd, &stx, nil)
	if err != nil {
		return nil, fmt.Errorf("xattrs of the root: %w", err)
	}
	w.recs.set(rootKey, d)
	if err := w.walk(rootFd, "", 1); err != nil {
		return nil, err
	}
	return w.recs, nil
}

// rootKey is the tree hash path of the root directory.
const rootKey = "."

func recordKey(p string) string {
	if p == "" {
		return rootKey
	}
	return p
}

type treeWalker struct {
	root mountID
	buf  []byte
	dbuf []byte
	recs *treeRecords
}

func (w *treeWalker) walk(dfd int, prefix string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%q: tree is deeper than %d levels", shortName(prefix), maxTreeDepth)
	}
	ents, err := readDirents(dfd, w.dbuf)
	if err != nil {
		return fmt.Errorf("%q: read directory: %w", shortName(recordKey(prefix)), err)
	}
	for _, e := range ents {
		p := joinPath(prefix, e.name)
		if err := w.entry(dfd, e.name, p, depth); err != nil {
			return err
		}
	}
	return nil
}

func (w *treeWalker) entry(dfd int, name, p string, depth int) error {
	var stx unix.Statx_t
	if err := statxAt(dfd, name, &stx); err != nil {
		return fmt.Errorf("%q: stat: %w", shortName(p), err)
	}
	if !sameMount(w.root, mountOf(&stx)) {
		return fmt.Errorf("%q is on another mount", shortName(p))
	}
	switch stx.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return w.file(dfd, name, p, &stx)
	case unix.S_IFDIR:
		return w.dir(dfd, name, p, &stx, depth)
	case unix.S_IFLNK:
		target, err := readlinkat(dfd, name)
		if err != nil {
			return fmt.Errorf("%q: readlink: %w", shortName(p), err)
		}
		m := metaFromStatx(&stx)
		m.target = target
		w.recs.set(p, m.digest())
	default:
		m := metaFromStatx(&stx)
		w.recs.set(p, m.digest())
	}
	return nil
}

func (w *treeWalker) file(dfd int, name, p string, want *unix.Statx_t) error {
	fd, err := openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("%q: open: %w", shortName(p), err)
	}
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		return fmt.Errorf("%q: stat: %w", shortName(p), err)
	}
	if idOf(&stx) != idOf(want) || stx.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%q: changed while hashing", shortName(p))
	}
	h := sha256.New()
	for {
		n, err := readFd(fd, w.buf)
		if n > 0 {
			h.Write(w.buf[:n])
		}
		if err != nil {
			return fmt.Errorf("%q: read: %w", shortName(p), err)
		}
		if n == 0 {
			break
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	d, err := fdDigest(fd, &stx, &sum)
	if err != nil {
		return fmt.Errorf("%q: xattrs: %w", shortName(p), err)
	}
	w.recs.set(p, d)
	return nil
}

func (w *treeWalker) dir(dfd int, name, p string, want *unix.Statx_t, depth int) error {
	fd, err := openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%q: open: %w", shortName(p), err)
	}
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		return fmt.Errorf("%q: stat: %w", shortName(p), err)
	}
	if idOf(&stx) != idOf(want) || !sameMount(w.root, mountOf(&stx)) {
		return fmt.Errorf("%q: changed while hashing", shortName(p))
	}
	d, err := fdDigest(fd, &stx, nil)
	if err != nil {
		return fmt.Errorf("%q: xattrs: %w", shortName(p), err)
	}
	w.recs.set(p, d)
	return w.walk(fd, p, depth+1)
}

// fdDigest returns the entry digest of a regular file or directory open as
// fd, whose statx is stx, reading its xattrs. content is the digest of a
// regular file's content.
func fdDigest(fd int, stx *unix.Statx_t, content *[32]byte) ([32]byte, error) {
	m := metaFromStatx(stx)
	if content != nil {
		m.content = *content
	}
	xs, err := readXattrs(fd)
	if err != nil {
		return [32]byte{}, err
	}
	m.xattrs = xs
	return m.digest(), nil
}

// readlinkat returns the target of the symlink name in dirfd.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 4096 + 1; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// xattr is one extended attribute.
type xattr struct {
	name  string
	value []byte
}

// hashedXattr reports whether an xattr found on disk counts in the tree
// hash. Apply never writes trusted.* itself except trusted.overlay.opaque,
// so any other trusted.overlay.* found later is a modification.
func hashedXattr(name string) bool {
	return strings.HasPrefix(name, "user.") || name == "security.capability" ||
		strings.HasPrefix(name, "trusted.overlay.")
}

// readXattrs returns the hashed xattrs of the file open as fd, by name.
func readXattrs(fd int) ([]xattr, error) {
	names, err := listXattrs(fd)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var out []xattr
	for _, name := range names {
		if !hashedXattr(name) {
			continue
		}
		v, err := getXattr(fd, name)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOVERFLOW) {
			// The kernel refuses to convert a malformed or foreign
			// security.capability: it still counts, by name.
			v, err = []byte("\x00unreadable"), nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, xattr{name: name, value: v})
	}
	slices.SortFunc(out, func(a, b xattr) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func listXattrs(fd int) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Flistxattr(fd, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Flistxattr(fd, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, max(sz, 2*len(buf)))
			continue
		}
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for b := range bytes.SplitSeq(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

func getXattr(fd int, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Fgetxattr(fd, name, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Fgetxattr(fd, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, max(sz, 2*len(buf)))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// entryMeta is what the tree hash covers of one file, besides its path.
type entryMeta struct {
	mode                 uint32 // S_IFMT and the 07777 bits
	uid, gid             uint32
	size                 uint64 // regular files
	content              [32]byte
	mtime                int64 // regular files, seconds
	target               string
	rdevMajor, rdevMinor uint32
	xattrs               []xattr
}

func metaFromStatx(stx *unix.Statx_t) entryMeta {
	m := entryMeta{
		mode: uint32(stx.Mode) & (unix.S_IFMT | 0o7777),
		uid:  stx.Uid,
		gid:  stx.Gid,
	}
	switch m.mode & unix.S_IFMT {
	case unix.S_IFREG:
		m.size = stx.Size
		m.mtime = stx.Mtime.Sec
	case unix.S_IFCHR, unix.S_IFBLK:
		m.rdevMajor, m.rdevMinor = stx.Rdev_major, stx.Rdev_minor
	}
	return m
}

// typeLetter names a file type in the digest.
func typeLetter(mode uint32) byte {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 'f'
	case unix.S_IFDIR:
		return 'd'
	case unix.S_IFLNK:
		return 'l'
	case unix.S_IFCHR:
		return 'c'
	case unix.S_IFBLK:
		return 'b'
	case unix.S_IFIFO:
		return 'p'
	case unix.S_IFSOCK:
		return 's'
	}
	return '?'
}

// digest returns the entry digest: a fixed binary encoding of the fields,
// strings and xattr values length-prefixed.
func (m *entryMeta) digest() [32]byte {
	b := make([]byte, 0, 128+len(m.target))
	b = append(b, "rkt-tree-entry-v1"...)
	b = append(b, typeLetter(m.mode))
	b = binary.BigEndian.AppendUint32(b, m.mode&0o7777)
	b = binary.BigEndian.AppendUint32(b, m.uid)
	b = binary.BigEndian.AppendUint32(b, m.gid)
	b = binary.BigEndian.AppendUint64(b, m.size)
	b = append(b, m.content[:]...)
	b = binary.AppendVarint(b, m.mtime)
	b = appendString(b, m.target)
	b = binary.BigEndian.AppendUint32(b, m.rdevMajor)
	b = binary.BigEndian.AppendUint32(b, m.rdevMinor)
	b = binary.AppendUvarint(b, uint64(len(m.xattrs)))
	for _, x := range m.xattrs {
		b = appendString(b, x.name)
		b = appendString(b, string(x.value))
	}
	return sha256.Sum256(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// treeRecords holds the entry digest of each path of a tree. keys keeps
// the insertion order, so that sorting is deterministic (map order is not).
type treeRecords struct {
	m    map[string][32]byte
	keys []string
}

func newTreeRecords() *treeRecords { return &treeRecords{m: make(map[string][32]byte)} }

func (r *treeRecords) set(k string, d [32]byte) {
	if _, ok := r.m[k]; !ok {
		r.keys = append(r.keys, k)
	}
	r.m[k] = d
}

func (r *treeRecords) get(k string) ([32]byte, bool) {
	d, ok := r.m[k]
	return d, ok
}

// sumTree combines per-path digests, sorted by path, into the tree hash.
func sumTree(recs *treeRecords) string {
	keys := slices.Clone(recs.keys)
	slices.Sort(keys)
	h := sha256.New()
	h.Write([]byte("rkt-tree-v1"))
	var b []byte
	for _, k := range keys {
		d := recs.m[k]
		b = appendString(b[:0], k)
		b = append(b, d[:]...)
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
