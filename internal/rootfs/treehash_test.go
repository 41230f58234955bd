package rootfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTreeHashDetectsChanges(t *testing.T) {
	needRoot(t)
	layer := buildTar(t, append(basicLayer(), reg("dir/.wh.gone", ""), reg("opq/.wh..wh..opq", "")))
	fresh := func(t *testing.T) (string, string) {
		d := newDirs(t)
		res := mustApply(t, d.root, layer, Options{Chown: true})
		if th, err := TreeHash(d.root); err != nil || th != res.TreeHash {
			t.Fatalf("TreeHash %s, %v; Apply said %s", th, err, res.TreeHash)
		}
		return d.root, res.TreeHash
	}
	_, h0 := fresh(t)
	changes := map[string]func(root string) error{
		"content": func(r string) error {
			return os.WriteFile(filepath.Join(r, "etc/passwd"), []byte("root::0:0::/root:/bin/sh\n"), 0o644)
		},
		"same size content": func(r string) error {
			return os.WriteFile(filepath.Join(r, "etc/passwd"), []byte("ROOT:x:0:0::/root:/bin/sh\n"), 0o644)
		},
		"chmod file": func(r string) error { return os.Chmod(filepath.Join(r, "usr/bin/su"), 0o755) },
		"chmod dir":  func(r string) error { return os.Chmod(filepath.Join(r, "tmp"), 0o777) },
		"chmod root": func(r string) error { return os.Chmod(r, 0o700) },
		"chown":      func(r string) error { return os.Lchown(filepath.Join(r, "etc/passwd"), 1, 1) },
		"chown link": func(r string) error { return os.Lchown(filepath.Join(r, "bin"), 1, 1) },
		"mtime": func(r string) error {
			return os.Chtimes(filepath.Join(r, "etc/passwd"), time.Now(), time.Unix(1, 0))
		},
		"user xattr": func(r string) error {
			return unix.Setxattr(filepath.Join(r, "etc/passwd"), "user.new", []byte("1"), 0)
		},
		"user xattr value": func(r string) error {
			return unix.Setxattr(filepath.Join(r, "home/user/notes"), "user.comment", []byte("b note"), 0)
		},
		"redirect xattr": func(r string) error {
			return unix.Setxattr(filepath.Join(r, "etc"), "trusted.overlay.redirect", []byte("/usr"), 0)
		},
		"remove opaque": func(r string) error { return unix.Removexattr(filepath.Join(r, "opq"), "trusted.overlay.opaque") },
		"capability": func(r string) error {
			return unix.Removexattr(filepath.Join(r, "usr/lib/cap"), "security.capability")
		},
		"new file":      func(r string) error { return os.WriteFile(filepath.Join(r, "new"), nil, 0o644) },
		"new empty dir": func(r string) error { return os.Mkdir(filepath.Join(r, "newdir"), 0o755) },
		"remove file":   func(r string) error { return os.Remove(filepath.Join(r, "empty")) },
		"remove whiteout": func(r string) error {
			return os.Remove(filepath.Join(r, "dir/gone"))
		},
		"rename": func(r string) error { return os.Rename(filepath.Join(r, "empty"), filepath.Join(r, "empty2")) },
		"retarget symlink": func(r string) error {
			if err := os.Remove(filepath.Join(r, "bin")); err != nil {
				return err
			}
			return os.Symlink("/usr/bin", filepath.Join(r, "bin"))
		},
		"break hardlink": func(r string) error {
			if err := os.Remove(filepath.Join(r, "usr/bin/sudo")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(r, "usr/bin/sudo"), []byte("#!/bin/su\n"), 0o4755)
		},
		"device number": func(r string) error {
			if err := os.Remove(filepath.Join(r, "dev/null")); err != nil {
				return err
			}
			return unix.Mknod(filepath.Join(r, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))
		},
		"fifo to file": func(r string) error {
			if err := os.Remove(filepath.Join(r, "run/fifo")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(r, "run/fifo"), nil, 0o620)
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			root, h := fresh(t)
			if h != h0 {
				t.Fatalf("Apply of the same layer gave %s then %s", h0, h)
			}
			if err := change(root); err != nil {
				t.Fatal(err)
			}
			h1, err := TreeHash(root)
			if err != nil {
				t.Fatal(err)
			}
			if h1 == h0 {
				t.Errorf("TreeHash did not change")
			}
		})
	}
	// What the hash leaves out: atimes, and directory mtimes (which any
	// lookup-free change to a child would update).
	root, _ := fresh(t)
	if err := os.Chtimes(filepath.Join(root, "etc/passwd"), time.Unix(5, 0), time.Unix(1500000000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "etc"), time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if h, err := TreeHash(root); err != nil || h != h0 {
		t.Errorf("TreeHash changed with atime and dir mtime: %s, %v", h, err)
	}
}

func TestTreeHashIndependentOfOrder(t *testing.T) {
	a := []tentry{dir("x/"), reg("x/1", "1"), reg("x/2", "2"), reg("y", "y")}
	b := []tentry{reg("y", "y"), dir("x/"), reg("x/2", "2"), reg("x/1", "1")}
	d1, d2 := newDirs(t), newDirs(t)
	r1 := mustApply(t, d1.root, buildTar(t, a), Options{})
	r2 := mustApply(t, d2.root, buildTar(t, b), Options{})
	if r1.TreeHash != r2.TreeHash {
		t.Errorf("same tree, different hashes: %s %s", r1.TreeHash, r2.TreeHash)
	}
	if r1.DiffID == r2.DiffID {
		t.Errorf("different streams, same DiffID")
	}
}

func TestTreeHashErrors(t *testing.T) {
	if _, err := TreeHash(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Errorf("no error for a missing dir")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TreeHash(f); err == nil {
		t.Errorf("no error for a file")
	}
}

// TestTreeHashFallbackAgrees checks that a layer whose hash cannot be
// streamed (replacements) hashes like the same tree written plainly.
func TestTreeHashFallbackAgrees(t *testing.T) {
	var streamed []bool
	testHookStreamed = func(s bool) { streamed = append(streamed, s) }
	defer func() { testHookStreamed = nil }()
	d1, d2 := newDirs(t), newDirs(t)
	r1 := mustApply(t, d1.root, buildTar(t, []tentry{reg("a", "old"), dir("b/"), reg("b/x", "x"), reg("a", "new"), reg("b", "f")}), Options{})
	r2 := mustApply(t, d2.root, buildTar(t, []tentry{reg("a", "new"), reg("b", "f")}), Options{})
	if len(streamed) != 2 || streamed[0] || !streamed[1] {
		t.Fatalf("streamed = %v, want [false true]", streamed)
	}
	if r1.TreeHash != r2.TreeHash {
		t.Errorf("fallback %s != streamed %s", r1.TreeHash, r2.TreeHash)
	}
}
