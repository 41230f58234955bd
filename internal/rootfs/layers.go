package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// ReadFileInLayers reads the file at name (an absolute path inside the
// image, e.g. "/etc/passwd") as the overlay of the rendered layer trees
// would show it: from the topmost layer that has it, unless a layer above
// hides it with a whiteout or an opaque directory. Each layer is resolved
// by fd, inside its own root, without following symlinks (a symlinked
// path is reported as not found rather than guessed across layers). It
// reads at most limit bytes. layers are bottom first.
func ReadFileInLayers(layers []string, name string, limit int64) ([]byte, error) {
	clean, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(clean, "/")
	for i := len(layers) - 1; i >= 0; i-- {
		data, found, hidden, err := readInLayer(layers[i], parts, limit)
		if err != nil {
			return nil, fmt.Errorf("read %s in layer %s: %w", name, layers[i], err)
		}
		if found {
			return data, nil
		}
		if hidden {
			break
		}
	}
	return nil, errdefs.NotFound(fmt.Errorf("%s: %w", name, fs.ErrNotExist))
}

// readInLayer looks for parts in one layer. hidden reports that the layer
// hides the path from the layers below (a whiteout of the path or of a
// parent, an opaque parent, or a non-directory parent, or, here, a
// non-regular file).
func readInLayer(layer string, parts []string, limit int64) (data []byte, found, hidden bool, err error) {
	found, hidden, err = inLayer(layer, parts, func(dirfd int, name string, st *unix.Stat_t) error {
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return errNotRegular
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		buf := make([]byte, min(limit, st.Size)+1)
		n, err := f.Read(buf)
		if err != nil && n == 0 && st.Size > 0 {
			return err
		}
		if int64(n) > limit {
			return errdefs.TooLarge(fmt.Errorf("larger than %d bytes", limit))
		}
		data = buf[:n]
		return nil
	})
	if errors.Is(err, errNotRegular) {
		return nil, false, true, nil
	}
	return data, found, hidden, err
}

var errNotRegular = errors.New("not a regular file")

// OwnerInLayers returns the owner and group of the file at name (an
// absolute path inside the image; a final symlink is not followed) as the
// overlay of the rendered layer trees would show it; see
// ReadFileInLayers. layers are bottom first.
func OwnerInLayers(layers []string, name string) (uid, gid uint32, err error) {
	clean, err := CleanName(name)
	if err != nil {
		return 0, 0, err
	}
	parts := strings.Split(clean, "/")
	for i := len(layers) - 1; i >= 0; i-- {
		found, hidden, err := inLayer(layers[i], parts, func(_ int, _ string, st *unix.Stat_t) error {
			uid, gid = st.Uid, st.Gid
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("stat %s in layer %s: %w", name, layers[i], err)
		}
		if found {
			return uid, gid, nil
		}
		if hidden {
			break
		}
	}
	return 0, 0, errdefs.NotFound(fmt.Errorf("%s: %w", name, fs.ErrNotExist))
}

// inLayer looks for parts in one layer and, when it is there, calls last
// with its directory, name and metadata. hidden reports that the layer
// hides the path from the layers below.
func inLayer(layer string, parts []string, last func(dirfd int, name string, st *unix.Stat_t) error) (found, hidden bool, err error) {
	dirfd, err := unix.Open(layer, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, false, err
	}
	defer func() { _ = unix.Close(dirfd) }()
	for i, p := range parts {
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, p, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return false, hidden, nil
			}
			return false, false, err
		}
		mode := st.Mode & unix.S_IFMT
		if mode == unix.S_IFCHR && st.Rdev == 0 {
			return false, true, nil // a whiteout
		}
		if i == len(parts)-1 {
			if err := last(dirfd, p, &st); err != nil {
				return false, false, err
			}
			return true, false, nil
		}
		if mode != unix.S_IFDIR {
			return false, true, nil
		}
		next, err := unix.Openat(dirfd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return false, false, err
		}
		unix.Close(dirfd)
		dirfd = next
		if opaque(dirfd) {
			// Lower layers are hidden below this directory, but this
			// layer may still have the file.
			hidden = true
		}
	}
	return false, hidden, nil
}

func opaque(fd int) bool {
	buf := make([]byte, 4)
	n, err := unix.Fgetxattr(fd, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}
