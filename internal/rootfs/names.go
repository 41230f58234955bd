package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/rkt/rkt/internal/errdefs"
)

// maxNameLen caps the length of a tar header's name and link name.
const maxNameLen = 4096

// OCI whiteout markers.
const (
	whiteoutPrefix    = ".wh."
	whiteoutMetaPfx   = ".wh..wh."
	whiteoutOpaqueDir = ".wh..wh..opq"
)

// CleanName turns a layer entry name into a path relative to the root:
// leading "/" and "./" are stripped and the rest is cleaned. The root itself
// is "". A name that still climbs out of the root with ".." after cleaning,
// or that holds a NUL byte, is refused with an errdefs.Unsafe error naming
// it.
func CleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errdefs.Unsafe(fmt.Errorf("layer entry %q holds a NUL byte", name))
	}
	p := name
	for {
		if s, ok := strings.CutPrefix(p, "/"); ok {
			p = s
			continue
		}
		if s, ok := strings.CutPrefix(p, "./"); ok {
			p = s
			continue
		}
		break
	}
	p = path.Clean(p)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errdefs.Unsafe(fmt.Errorf("layer entry %q escapes the root", name))
	}
	if p == "." {
		return "", nil
	}
	return p, nil
}

// splitPath returns the parent directory ("" for the root) and the last
// component of a cleaned, non-root path.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// joinPath joins a cleaned directory path ("" for the root) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// depthOf returns the number of components of a cleaned path; 0 for the
// root.
func depthOf(p string) int {
	if p == "" {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// whiteoutKind says what a layer entry's base name means.
type whiteoutKind int

const (
	notWhiteout whiteoutKind = iota
	whiteoutFile
	whiteoutOpaque
	whiteoutMeta // other .wh..wh. names (aufs metadata): skipped
)

var errBadWhiteout = errors.New("invalid whiteout name")

// parseWhiteout classifies base; for whiteoutFile it returns the name that
// is whited out.
func parseWhiteout(base string) (whiteoutKind, string, error) {
	if !strings.HasPrefix(base, whiteoutPrefix) {
		return notWhiteout, "", nil
	}
	if base == whiteoutOpaqueDir {
		return whiteoutOpaque, "", nil
	}
	if strings.HasPrefix(base, whiteoutMetaPfx) {
		return whiteoutMeta, "", nil
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return notWhiteout, "", errBadWhiteout
	}
	return whiteoutFile, target, nil
}

// resolveLinkTarget returns the root-relative path that a symlink at p with
// target would point to, read the way RESOLVE_IN_ROOT reads it: absolute
// targets start at the root and ".." stops at the root. Symlinks in p's
// parent are not taken into account.
func resolveLinkTarget(p, target string) string {
	var full string
	if strings.HasPrefix(target, "/") {
		full = target
	} else {
		dir, _ := splitPath(p)
		full = "/" + dir + "/" + target
	}
	c := path.Clean("/" + full)
	return strings.TrimPrefix(c, "/")
}

// shortName truncates a hostile name for error messages.
func shortName(s string) string {
	if len(s) <= 128 {
		return s
	}
	return s[:128] + "..."
}
