package mount

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCopyTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to copy owners")
	}
	base := t.TempDir()
	root := filepath.Join(base, "root")
	host := filepath.Join(base, "host")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "data/sub"), 0o755))
	must(os.MkdirAll(host, 0o755))
	must(os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o600))
	must(unix.Chmod(filepath.Join(root, "data"), 0o1770))
	must(os.Chown(filepath.Join(root, "data"), 1000, 1001))
	must(os.WriteFile(filepath.Join(root, "data/seed.txt"), []byte("seed"), 0o640))
	must(os.Chown(filepath.Join(root, "data/seed.txt"), 7, 8))
	must(os.WriteFile(filepath.Join(root, "data/sub/x"), []byte("x"), 0o4755))
	must(unix.Chmod(filepath.Join(root, "data/sub/x"), 0o4755))
	must(os.Link(filepath.Join(root, "data/sub/x"), filepath.Join(root, "data/hard")))
	must(os.Symlink(filepath.Join(host, "secret"), filepath.Join(root, "data/abs")))
	must(os.Symlink("../../../../../"+host, filepath.Join(root, "data/rel")))
	must(unix.Mkfifo(filepath.Join(root, "data/fifo"), 0o620))
	must(unix.Chmod(filepath.Join(root, "data/fifo"), 0o620))
	// The volume path goes through a symlink, resolved inside the root.
	must(os.Symlink("/data", filepath.Join(root, "link")))
	// A volume whose path escapes through a symlink copies the root's
	// /escape-target (missing: nothing), never the host's.
	must(os.Symlink(host, filepath.Join(root, "escape")))

	rfd, err := OpenDir(root)
	must(err)
	defer unix.Close(rfd)
	dst := filepath.Join(base, "vol")
	must(os.Mkdir(dst, 0o700))
	must(CopyTree(rfd, "/link", dst, IDShift{}))

	check := func(p string, mode os.FileMode, uid, gid uint32) {
		t.Helper()
		var st unix.Stat_t
		must(unix.Lstat(filepath.Join(dst, p), &st))
		if got := os.FileMode(st.Mode & 0o7777); got != mode&0o7777 || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", p, got, st.Uid, st.Gid, mode, uid, gid)
		}
	}
	check(".", 0o1770, 1000, 1001)
	check("seed.txt", 0o640, 7, 8)
	check("sub/x", 0o4755, 0, 0)
	check("fifo", 0o620, 0, 0)
	if b, err := os.ReadFile(filepath.Join(dst, "seed.txt")); err != nil || string(b) != "seed" {
		t.Errorf("seed.txt = %q, %v", b, err)
	}
	var a, b unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "hard"), &a))
	must(unix.Lstat(filepath.Join(dst, "sub/x"), &b))
	if a.Ino != b.Ino {
		t.Error("the hard link was not kept")
	}
	for name, want := range map[string]string{"abs": filepath.Join(host, "secret"), "rel": "../../../../../" + host} {
		if got, err := os.Readlink(filepath.Join(dst, name)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want the link itself copied", name, got, err)
		}
	}

	// Escapes copy nothing of the host.
	dst2 := filepath.Join(base, "vol2")
	must(os.Mkdir(dst2, 0o700))
	must(CopyTree(rfd, "/escape", dst2, IDShift{}))
	must(CopyTree(rfd, "/../../..", dst2+"/", IDShift{})) // clamped to the root: copies it
	if _, err := os.Lstat(filepath.Join(dst2, "secret")); err == nil {
		t.Error("copy-up followed a symlink out of the root")
	}
	if _, err := os.Lstat(filepath.Join(dst2, "data/seed.txt")); err != nil {
		t.Errorf("the clamped root was not copied: %v", err)
	}
	// A missing path or a file copies nothing.
	dst3 := filepath.Join(base, "vol3")
	must(os.Mkdir(dst3, 0o700))
	must(CopyTree(rfd, "/nope", dst3, IDShift{}))
	must(CopyTree(rfd, "/data/seed.txt", dst3, IDShift{}))
	if e, _ := os.ReadDir(dst3); len(e) != 0 {
		t.Errorf("copied %v", e)
	}
}

func TestIDShiftBack(t *testing.T) {
	s := IDShift{Shift: 65536, Size: 65536}
	for _, c := range []struct{ in, want uint32 }{{65536, 0}, {65536 + 1000, 1000}, {131071, 65535}, {131072, 131072}, {0, 0}, {65535, 65535}} {
		if got := s.back(unix.Stat_t{Uid: c.in, Gid: c.in}); got.Uid != c.want || got.Gid != c.want {
			t.Errorf("%d: %d/%d, want %d", c.in, got.Uid, got.Gid, c.want)
		}
	}
	if got := (IDShift{}).back(unix.Stat_t{Uid: 70000}); got.Uid != 70000 {
		t.Errorf("zero shift moved %d", got.Uid)
	}
}
