package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"sort"

	"golang.org/x/sys/unix"
)

// MergedLayer is one directory tree of a merged view.
type MergedLayer struct {
	// Dir is the tree: a rendered layer, an overlayfs upper directory, or
	// any tree in the overlay format (whiteouts are 0/0 character devices,
	// opaque directories have trusted.overlay.opaque=y).
	Dir string
	// Keep, when set, says whether this layer's entry at path (relative,
	// slash-separated: "etc/passwd") shows. A left-out entry hides nothing
	// below it.
	Keep func(path string, dir bool) bool
}

// MergeOptions tune WriteMerged.
type MergeOptions struct {
	// Prefix names the tree's root in the archive ("rootfs" for an ACI);
	// empty writes the entries at the top, with no entry for the root.
	Prefix string
	// Debugf is told what is left out; may be nil.
	Debugf func(string, ...any)
}

// maxMergeDepth bounds the directory nesting WriteMerged follows.
const maxMergeDepth = 512

// WriteMerged writes to w, as a tar stream with no whiteouts, the tree that
// overlayfs would show for layers given top first (as in its lowerdir
// option): each path from the topmost layer that has it, unless a layer
// above hides it with a whiteout, an opaque directory or a non-directory;
// directories merge. Layers are walked by file descriptor without
// following symlinks; entries come sorted, parents first. Hard links stay
// links; device nodes and sockets are left out, and only the safe xattrs
// are kept, as WriteDiff does.
func WriteMerged(w io.Writer, layers []MergedLayer, opts MergeOptions) (err error) {
	if len(layers) == 0 {
		return errors.New("merge: no layers")
	}
	srcs := make([]mergeSrc, 0, len(layers))
	defer func() {
		for _, s := range srcs {
			unix.Close(s.fd)
		}
	}()
	for _, l := range layers {
		fd, err := unix.Open(l.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", l.Dir, err)
		}
		srcs = append(srcs, mergeSrc{fd: fd, keep: l.Keep})
	}
	d := &differ{tw: tar.NewWriter(w), links: map[[2]uint64]string{}, debugf: opts.Debugf}
	if d.debugf == nil {
		d.debugf = func(string, ...any) {}
	}
	m := &merger{differ: d, prefix: opts.Prefix}
	if m.prefix != "" {
		var st unix.Stat_t
		if err := unix.Fstat(srcs[0].fd, &st); err != nil {
			return err
		}
		if err := d.dirHeader(srcs[0].fd, m.prefix, &st); err != nil {
			return err
		}
	}
	if err := m.dir(srcs, "", 0); err != nil {
		return err
	}
	return d.tw.Close()
}

type mergeSrc struct {
	fd   int
	keep func(string, bool) bool
}

type merger struct {
	*differ
	prefix string
}

// tarName is the archive name of rel.
func (m *merger) tarName(rel string) string {
	switch {
	case m.prefix == "":
		return rel
	case rel == "":
		return m.prefix
	}
	return m.prefix + "/" + rel
}

// dir writes the merged directory rel, which srcs (top first) hold.
func (m *merger) dir(srcs []mergeSrc, rel string, depth int) error {
	if depth > maxMergeDepth {
		return fmt.Errorf("%q: more than %d directories deep", rel, maxMergeDepth)
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range srcs {
		ns, err := readNames(s.fd, rel)
		if err != nil {
			return fmt.Errorf("read directory %q: %w", rel, err)
		}
		for _, n := range ns {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := m.entry(srcs, rel, name, depth); err != nil {
			return err
		}
	}
	return nil
}

// entry writes name of the merged directory rel.
func (m *merger) entry(srcs []mergeSrc, rel, name string, depth int) error {
	path := name
	if rel != "" {
		path = rel + "/" + name
	}
	var (
		top   = -1
		topSt unix.Stat_t
		lower []mergeSrc // the directories merged at path, top first
	)
	defer func() {
		for _, s := range lower {
			unix.Close(s.fd)
		}
	}()
	for i, s := range srcs {
		var st unix.Stat_t
		if err := unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %q: %w", path, err)
		}
		mode := st.Mode & unix.S_IFMT
		if mode == unix.S_IFCHR && st.Rdev == 0 {
			break // a whiteout hides the layers below
		}
		isDir := mode == unix.S_IFDIR
		if s.keep != nil && !s.keep(path, isDir) {
			continue
		}
		if top >= 0 && !isDir {
			break // a non-directory below a directory is hidden
		}
		if top < 0 {
			top, topSt = i, st
			if !isDir {
				break
			}
		}
		sub, err := unix.Openat(s.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %q: %w", path, err)
		}
		lower = append(lower, mergeSrc{fd: sub, keep: s.keep})
		if opaque(sub) {
			break
		}
	}
	if top < 0 {
		return nil
	}
	if topSt.Mode&unix.S_IFMT != unix.S_IFDIR {
		return m.nonDir(srcs[top].fd, m.tarName(rel), name, &topSt)
	}
	if err := m.dirHeader(lower[0].fd, m.tarName(path), &topSt); err != nil {
		return err
	}
	return m.dir(lower, path, depth+1)
}
