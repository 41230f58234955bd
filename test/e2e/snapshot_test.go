package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// snapshot is a listing of every path under a store: one line per path
// with its type, permission bits, owner and, for regular files, size and
// content hash (symlinks: target; devices: numbers).
type snapshot []string

// storeSnapshot lists every path under <dataDir>/store. It ignores nothing:
// "the store exactly as before" means the same paths with the same types,
// modes, owners and contents, including the lock file, locks/ and tmp/.
// Per-object lock files a failed fetch created must be gone again
// (store.Discard removes them), and tmp/ must be empty again.
//
// What it does not record, and why: times (the store lock and the image
// records' last-used times are legitimately touched by reads), and the
// size of directories (ext4 grows a directory when entries are added and
// never shrinks it when they are removed, so it says nothing about what is
// in it; the entries themselves are listed).
func storeSnapshot(t *testing.T, dataDir string) snapshot {
	t.Helper()
	root := filepath.Join(dataDir, "store")
	var out snapshot
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat_t", p)
		}
		mode := info.Mode()
		line := fmt.Sprintf("%s %s %04o %d:%d", rel, typeName(mode), mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), st.Uid, st.Gid)
		switch {
		case mode.IsRegular():
			sum, err := hashFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sha256=%s", info.Size(), sum)
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case mode&fs.ModeDevice != 0:
			line += fmt.Sprintf(" rdev=%d", st.Rdev)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", root, err)
	}
	slices.Sort(out)
	return out
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeCharDevice != 0:
		return "chardev"
	case m&fs.ModeDevice != 0:
		return "blockdev"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "other"
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sameStore fails the test unless the store is as in before.
func sameStore(t *testing.T, e *env, before snapshot) {
	t.Helper()
	after := storeSnapshot(t, e.dir)
	if slices.Equal(before, after) {
		return
	}
	var gone, added []string
	for _, l := range before {
		if !slices.Contains(after, l) {
			gone = append(gone, "- "+l)
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			added = append(added, "+ "+l)
		}
	}
	t.Errorf("the store changed:\n%s", strings.Join(append(gone, added...), "\n"))
}

// storeDirEmpty fails the test unless <store>/<sub> has no entries.
func storeDirEmpty(t *testing.T, e *env, sub string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.store(), sub))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		t.Errorf("store/%s is not empty: %v", sub, names)
	}
}
