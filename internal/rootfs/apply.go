package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// WhiteoutMode says how OCI whiteout entries (.wh.NAME and .wh..wh..opq) are
// handled.
type WhiteoutMode int

const (
	// WhiteoutOverlay extracts the layer into its own empty directory that
	// will be used as an overlayfs lowerdir: `.wh.NAME` becomes a 0/0
	// character device NAME, `.wh..wh..opq` sets the xattr
	// trusted.overlay.opaque=y on its directory.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutApply applies layers one over another into one tree
	// (flattening, `rkt image render`): `.wh.NAME` removes NAME
	// (recursively, never crossing a mount), `.wh..wh..opq` removes the
	// directory's existing children (those from earlier layers; not ones
	// from this same layer). An entry whose path exists is replaced, except
	// dir over dir (then only metadata changes), like docker's applyLayer.
	WhiteoutApply
)

// Limits bound what one layer may make Apply do. Zero fields take the
// defaults.
type Limits struct {
	MaxBytes   int64 // total uncompressed tar stream bytes; 0 = default 64 GiB
	MaxEntries int   // 0 = default 4,000,000
	// MaxRatio: once the uncompressed stream passes RatioFloor bytes, fail
	// when uncompressed/compressed > MaxRatio. The compressed size is what
	// was consumed from the reader so far.
	MaxRatio   int64 // 0 = default 1024
	RatioFloor int64 // 0 = default 512 MiB
}

// Options controls Apply.
type Options struct {
	Whiteouts WhiteoutMode
	Limits    Limits
	// Chown applies uid/gid from the tar headers (needs root). When false,
	// files keep the caller's ids and device nodes are skipped.
	Chown bool
	// Debugf, if non-nil, receives one line per skipped or adjusted entry
	// (e.g. a device node outside /dev).
	Debugf func(format string, args ...any)
}

// Result describes an applied layer.
type Result struct {
	DiffID   digest.Digest // sha256 of the uncompressed tar stream
	Size     int64         // bytes of the uncompressed tar stream
	TreeHash string        // "sha256:<hex>" content hash of the tree written (only for WhiteoutOverlay; "" otherwise)
	Entries  int
}

// copyBufSize is the size of the buffer file contents are copied through.
const copyBufSize = 1 << 20

// Apply reads a possibly compressed layer (gzip, zstd or plain tar, detected
// by magic bytes) from r and applies it under dir, which must already exist.
// compressedSize (-1 if unknown) is the size the caller expects r to have:
// reading more than that is an error. The context cancels it.
//
// Every path is resolved by file descriptor below dir (openat2 with
// RESOLVE_IN_ROOT); entries that climb out of the root are refused with an
// errdefs.Unsafe error, limits are enforced with errdefs.TooLarge errors.
// On error, what was written so far stays under dir: the caller discards it
// (RemoveAll). If ctx is canceled while a read from r blocks, Apply returns
// without waiting for that read; the caller should then close r.
func Apply(ctx context.Context, dir string, r io.Reader, compressedSize int64, opts Options) (*Result, error) {
	opts.Limits = opts.Limits.withDefaults()
	a, err := newApplier(dir, opts)
	if err != nil {
		return nil, err
	}
	defer a.close()
	s := newStream(ctx, r, compressedSize, opts.Limits)
	defer s.stop()
	n, err := a.entries(ctx, s)
	if err != nil {
		return nil, err
	}
	diffID, size, err := s.drain()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, errdefs.InvalidArgument(errors.New("read layer: the layer is empty, not a tar archive"))
	}
	if err := a.finishDirs(); err != nil {
		return nil, err
	}
	res := &Result{DiffID: diffID, Size: size, Entries: n}
	if opts.Whiteouts == WhiteoutOverlay {
		if res.TreeHash, err = a.treeHash(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// entries applies every tar entry of s and returns how many there were.
func (a *applier) entries(ctx context.Context, s *stream) (int, error) {
	tr := tar.NewReader(s)
	n := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			if f := s.failure(); f != nil {
				return n, f
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("truncated: %w", err)
			}
			return n, fmt.Errorf("read layer: tar: %w", err)
		}
		n++
		if n > a.opts.Limits.MaxEntries {
			return n, errdefs.TooLarge(fmt.Errorf("layer exceeds %d entries", a.opts.Limits.MaxEntries))
		}
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("apply layer: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			if f := s.failure(); f != nil {
				return n, f
			}
			return n, err
		}
	}
}

// applier holds the state of one Apply.
type applier struct {
	opts    Options
	dir     string
	root    int
	rootMnt mountID
	euid    uint32
	egid    uint32
	umask   uint32
	buf     []byte

	rootPar    parentDir
	cache      *parentDir // the most recently used parent directory, never the root
	cacheDirty bool       // something was removed: drop cache before the next lookup

	pending      map[string]*pendingDir // directories whose metadata is set at the end
	touched      map[string]struct{}    // WhiteoutApply: paths this layer wrote, with their ancestors
	pendingOrder []string               // keys of pending, in insertion order
	records      *treeRecords           // WhiteoutOverlay: streamed tree hash records; nil once it must walk
	content      int64                  // sum of the regular files' sizes
	rm           *remover
}

// parentDir is an open directory that entries are created in.
type parentDir struct {
	path       string // cleaned path from the root, "" for the root
	fd         int
	viaSymlink bool // resolving path followed a symlink
	setgid     bool // new files inherit gid
	gid        uint32
	defaultACL bool // new files get their mode from the default ACL, not the umask
}

// dirMeta is the metadata of a directory entry, applied at the end.
type dirMeta struct {
	perm     uint32
	owned    bool // from an entry: owner and times apply (not to missing parents)
	uid, gid uint32
	times    [2]unix.Timespec
	xattrs   []xattr
	name     string // the entry's name, for messages
}

// headerIDs returns the uid and gid of hdr, which entry has checked to be
// in [0, 2^32-2].
func headerIDs(hdr *tar.Header) (uid, gid uint32) {
	return uint32(hdr.Uid), uint32(hdr.Gid) //nolint:gosec // G115: entry refused ids outside [0, 2^32-2]
}

// headerPerm returns the permission bits of hdr, with setuid, setgid and
// sticky.
func headerPerm(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode & 0o7777)
}

// processID converts a uid or gid of this process.
func processID(id int) uint32 {
	if id < 0 || id > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(id)
}

// pendingDir is a directory whose metadata is set after all entries.
type pendingDir struct {
	id   fileID
	meta *dirMeta // nil: created as a missing parent (0755) or the untouched root
}

func newApplier(dir string, opts Options) (*applier, error) {
	root, err := openat(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("apply layer to %q: open: %w", dir, err)
	}
	var stx unix.Statx_t
	if err := statxFd(root, &stx); err != nil {
		unix.Close(root)
		return nil, fmt.Errorf("apply layer to %q: stat: %w", dir, err)
	}
	a := &applier{
		opts:    opts,
		dir:     dir,
		root:    root,
		rootMnt: mountOf(&stx),
		euid:    processID(unix.Geteuid()),
		egid:    processID(unix.Getegid()),
		umask:   processUmask(),
		buf:     make([]byte, copyBufSize),
		pending: make(map[string]*pendingDir),
		rm:      newRemover(mountOf(&stx)),
	}
	a.setPending("", &pendingDir{id: idOf(&stx)})
	a.rootPar = parentDir{fd: root, setgid: stx.Mode&unix.S_ISGID != 0, gid: stx.Gid, defaultACL: hasDefaultACL(root)}
	switch opts.Whiteouts {
	case WhiteoutOverlay:
		ents, err := readDirents(root, make([]byte, 4096))
		if err != nil {
			a.close()
			return nil, fmt.Errorf("apply layer to %q: read directory: %w", dir, err)
		}
		if len(ents) == 0 {
			a.records = newTreeRecords()
		}
	case WhiteoutApply:
		a.touched = make(map[string]struct{})
	default:
		a.close()
		return nil, errdefs.InvalidArgument(fmt.Errorf("apply layer to %q: unknown whiteout mode %d", dir, opts.Whiteouts))
	}
	return a, nil
}

func (a *applier) close() {
	a.dropCache()
	if a.root >= 0 {
		unix.Close(a.root)
		a.root = -1
	}
}

func (a *applier) debugf(format string, args ...any) {
	if a.opts.Debugf != nil {
		a.opts.Debugf(format, args...)
	}
}

// setPending records a directory whose metadata is set at the end.
func (a *applier) setPending(p string, pd *pendingDir) {
	if _, ok := a.pending[p]; !ok {
		a.pendingOrder = append(a.pendingOrder, p)
	}
	a.pending[p] = pd
}

// noStream gives up the streamed tree hash: it is computed by walking the
// tree at the end.
func (a *applier) noStream() { a.records = nil }

// record stores the tree hash digest of p.
func (a *applier) record(p string, d [32]byte) {
	if a.records != nil {
		a.records.set(recordKey(p), d)
	}
}

// touch notes that this layer wrote p (WhiteoutApply).
func (a *applier) touch(p string) {
	if a.touched == nil {
		return
	}
	for q := p; q != ""; q, _ = splitPath(q) {
		if _, ok := a.touched[q]; ok {
			return
		}
		a.touched[q] = struct{}{}
	}
}

// entryError wraps err for the entry named name.
func entryError(name, op string, err error) error {
	return fmt.Errorf("apply layer entry %q: %s: %w", shortName(name), op, err)
}

// entry applies one tar entry.
func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	if len(hdr.Name) > maxNameLen {
		return errdefs.TooLarge(fmt.Errorf("layer entry %q: name exceeds %d bytes", shortName(hdr.Name), maxNameLen))
	}
	if len(hdr.Linkname) > maxNameLen {
		return errdefs.TooLarge(fmt.Errorf("layer entry %q: link target exceeds %d bytes", shortName(hdr.Name), maxNameLen))
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		a.debugf("skip layer entry %q: global pax header", shortName(hdr.Name))
		return nil
	}
	p, err := CleanName(hdr.Name)
	if err != nil {
		return err
	}
	if a.cacheDirty {
		a.dropCache()
	}
	if p != "" {
		dir, base := splitPath(p)
		kind, target, err := parseWhiteout(base)
		if err != nil {
			return errdefs.Unsafe(entryError(hdr.Name, "whiteout", err))
		}
		switch kind {
		case whiteoutOpaque:
			return a.opaque(hdr, dir)
		case whiteoutFile:
			return a.whiteout(hdr, dir, target)
		case whiteoutMeta:
			a.debugf("skip layer entry %q: whiteout metadata", shortName(hdr.Name))
			return nil
		}
	}
	if p == "" && hdr.Typeflag != tar.TypeDir {
		return errdefs.Unsafe(entryError(hdr.Name, "create", errors.New("only a directory can name the root")))
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || int64(hdr.Uid) >= 1<<32-1 || int64(hdr.Gid) >= 1<<32-1 {
		return errdefs.InvalidArgument(entryError(hdr.Name, "owner", fmt.Errorf("invalid uid/gid %d:%d", hdr.Uid, hdr.Gid)))
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(hdr, p)
	case tar.TypeReg, '\x00', tar.TypeCont, tar.TypeGNUSparse:
		return a.file(hdr, p, r)
	case tar.TypeSymlink:
		return a.symlink(hdr, p)
	case tar.TypeLink:
		return a.hardlink(hdr, p)
	case tar.TypeChar, tar.TypeBlock:
		return a.device(hdr, p)
	case tar.TypeFifo:
		return a.fifo(hdr, p)
	}
	a.debugf("skip layer entry %q: unsupported type %q", shortName(hdr.Name), hdr.Typeflag)
	return nil
}

// headerTimes returns the access and modification times to set from hdr.
func headerTimes(hdr *tar.Header) [2]unix.Timespec {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, timespec(hdr.ModTime)}
	if !hdr.AccessTime.IsZero() {
		ts[0] = timespec(hdr.AccessTime)
	}
	return ts
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// headerXattrs returns the xattrs of hdr that may be applied to a file of
// the given type, sorted; it reports the others through Debugf.
func (a *applier) headerXattrs(hdr *tar.Header, isDir bool) []xattr {
	var out []xattr
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if !allowedXattr(name, isDir, hdr.Typeflag) {
			a.debugf("skip xattr %q of layer entry %q: not allowed", shortName(name), shortName(hdr.Name))
			continue
		}
		if name == "security.capability" && !validCapability([]byte(v)) {
			a.debugf("skip xattr %q of layer entry %q: malformed value", name, shortName(hdr.Name))
			continue
		}
		out = append(out, xattr{name: name, value: []byte(v)})
	}
	slices.SortFunc(out, func(x, y xattr) int { return strings.Compare(x.name, y.name) })
	return out
}

// allowedXattr reports whether an image may set xattr name: user.* (but
// not user.overlay.*, which overlayfs reads when mounted with userxattr) on
// files and directories, security.capability on regular files.
func allowedXattr(name string, isDir bool, typ byte) bool {
	isFile := !isDir && typ != tar.TypeSymlink && typ != tar.TypeLink && typ != tar.TypeChar &&
		typ != tar.TypeBlock && typ != tar.TypeFifo
	switch {
	case strings.HasPrefix(name, "user.overlay."):
		return false
	case strings.HasPrefix(name, "user."):
		return isDir || isFile
	case name == "security.capability":
		return isFile
	}
	return false
}

// validCapability reports whether v is a well-formed security.capability
// value (struct vfs_cap_data or vfs_ns_cap_data): the kernel stores others
// as they are but then refuses to read them back.
func validCapability(v []byte) bool {
	if len(v) < 4 {
		return false
	}
	rev := uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24
	switch rev & 0xff000000 {
	case 0x01000000:
		return len(v) == 12
	case 0x02000000:
		return len(v) == 20
	case 0x03000000:
		return len(v) == 24
	}
	return false
}

// setXattrs applies xs to the file open as fd.
func (a *applier) setXattrs(fd int, xs []xattr, name string) error {
	for _, x := range xs {
		err := retryEINTR(func() error { return unix.Fsetxattr(fd, x.name, x.value, 0) })
		switch {
		case err == nil:
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP),
			errors.Is(err, unix.EINVAL), errors.Is(err, unix.E2BIG), errors.Is(err, unix.ERANGE):
			// Not allowed here, or a value the kernel refuses (a malformed
			// security.capability): the entry is applied without it.
			a.debugf("skip xattr %q of layer entry %q: %v", shortName(x.name), shortName(name), err)
		default:
			return entryError(name, "set xattr "+shortName(x.name), err)
		}
	}
	return nil
}

// hasDefaultACL reports whether the directory open as fd has a default ACL.
func hasDefaultACL(fd int) bool {
	n, err := unix.Fgetxattr(fd, "system.posix_acl_default", nil)
	return err == nil && n > 0
}

// finishDirs sets the metadata of the directories, children before parents,
// now that no entry will modify them anymore.
func (a *applier) finishDirs() error {
	paths := slices.Clone(a.pendingOrder)
	slices.SortStableFunc(paths, func(x, y string) int { return depthOf(y) - depthOf(x) })
	for _, p := range paths {
		if err := a.finishDir(p, a.pending[p]); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) finishDir(p string, pd *pendingDir) error {
	fd := a.root
	if p != "" {
		var err error
		fd, err = openat2(a.root, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, resolveFlags)
		if err != nil {
			// Replaced or removed by a later entry.
			a.noStream()
			return nil
		}
		defer unix.Close(fd)
	}
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		return entryError(recordKey(p), "stat", err)
	}
	if idOf(&stx) != pd.id {
		a.noStream()
		return nil
	}
	if err := a.setDirMeta(fd, p, pd, &stx); err != nil {
		return err
	}
	if a.records == nil {
		return nil
	}
	if err := statxFd(fd, &stx); err != nil {
		return entryError(recordKey(p), "stat", err)
	}
	d, err := fdDigest(fd, &stx, nil)
	if err != nil {
		return entryError(recordKey(p), "read xattrs", err)
	}
	a.record(p, d)
	return nil
}

// setDirMeta applies a pending directory's metadata to the directory open
// as fd, whose statx is stx.
func (a *applier) setDirMeta(fd int, p string, pd *pendingDir, stx *unix.Statx_t) error {
	m := pd.meta
	if m == nil {
		if p == "" {
			return nil // the root keeps what the caller gave it
		}
		m = &dirMeta{perm: 0o755, name: p}
	}
	if m.owned && a.opts.Chown && (stx.Uid != m.uid || stx.Gid != m.gid) {
		if err := unix.Fchown(fd, int(m.uid), int(m.gid)); err != nil {
			return entryError(m.name, "chown", err)
		}
		if err := statxFd(fd, stx); err != nil {
			return entryError(m.name, "stat", err)
		}
	}
	if uint32(stx.Mode)&0o7777 != m.perm {
		if err := unix.Fchmod(fd, m.perm); err != nil {
			return entryError(m.name, "chmod", err)
		}
	}
	if err := a.setXattrs(fd, m.xattrs, m.name); err != nil {
		return err
	}
	if !m.owned {
		return nil
	}
	if err := futimens(fd, &m.times); err != nil {
		return entryError(m.name, "set times", err)
	}
	return nil
}

// testHookStreamed, set by tests, learns whether a tree hash was streamed.
var testHookStreamed func(streamed bool)

// treeHash returns the tree hash of what Apply wrote: from the streamed
// records, or by walking the tree where streaming could not follow.
func (a *applier) treeHash() (string, error) {
	if testHookStreamed != nil {
		testHookStreamed(a.records != nil)
	}
	if a.records != nil {
		return sumTree(a.records), nil
	}
	recs, err := hashTree(a.root)
	if err != nil {
		return "", fmt.Errorf("tree hash of %q: %w", a.dir, err)
	}
	return sumTree(recs), nil
}
