package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEnsureDirStaysInRoot(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir()
	for name, target := range map[string]string{"abs": host, "rel": "../../../" + host, "dotdot": "../.."} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	rfd, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	for _, p := range []string{"/abs/x/y", "rel/z", "/dotdot/w", "a/b/c"} {
		fd, err := EnsureDir(rfd, p, 0o755)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		unix.Close(fd)
	}
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Fatalf("created outside the root: %v", entries)
	}
	for _, p := range []string{host + "/x/y", host + "/z", "w", "a/b/c"} {
		if st, err := os.Stat(filepath.Join(root, p)); err != nil || !st.IsDir() {
			t.Errorf("%s not created inside the root: %v", p, err)
		}
	}
	// EnsureFile through a dangling absolute link lands inside too.
	if err := os.Symlink(host+"/f", filepath.Join(root, "flink")); err != nil {
		t.Fatal(err)
	}
	fd, err := EnsureFile(rfd, "flink", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := os.Stat(filepath.Join(host, "f")); err == nil {
		t.Fatal("file created on the host")
	}
	if _, err := EnsureFile(rfd, "a/b", 0o644); err == nil {
		t.Error("EnsureFile accepted a directory")
	}
	if err := SymlinkInRoot(rfd, "/abs/l", "target"); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(root, host, "l")); err != nil || l != "target" {
		t.Errorf("symlink: %q %v", l, err)
	}
	// Host paths do not resolve: /proc here is the root's (missing) /proc.
	if _, err := OpenInRoot(rfd, "/proc/self/root", unix.O_PATH); err == nil {
		t.Error("magic link followed")
	}
}

func TestMknodInRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_MKNOD) to make device nodes")
	}
	root := t.TempDir()
	host := t.TempDir()
	if err := os.Symlink(host, filepath.Join(root, "dev")); err != nil {
		t.Fatal(err)
	}
	rfd, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	cases := []struct {
		path     string
		mode     uint32
		dev      uint64
		uid, gid int
	}{
		{"/dev/null", unix.S_IFCHR | 0o666, unix.Mkdev(1, 3), 0, 0},
		{"/dev/tty", unix.S_IFCHR | 0o620, unix.Mkdev(5, 0), 0, 5},
		{"/d/blk", unix.S_IFBLK | 0o600, unix.Mkdev(7, 0), 1000, 1000},
	}
	for _, c := range cases {
		if err := MknodInRoot(rfd, c.path, c.mode, c.dev, c.uid, c.gid); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		// The link /dev -> host is followed inside the root only.
		where := filepath.Join(root, c.path)
		if rest, ok := strings.CutPrefix(c.path, "/dev/"); ok {
			where = filepath.Join(root, host, rest)
		}
		var st unix.Stat_t
		if err := unix.Lstat(where, &st); err != nil {
			t.Fatalf("%s not made inside the root: %v", c.path, err)
		}
		if st.Mode != c.mode || st.Rdev != c.dev || int(st.Uid) != c.uid || int(st.Gid) != c.gid {
			t.Errorf("%s: mode %o dev %d:%d owner %d:%d, want %o %d:%d %d:%d (the umask must not apply)", c.path,
				st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Uid, st.Gid, c.mode, unix.Major(c.dev), unix.Minor(c.dev), c.uid, c.gid)
		}
	}
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Fatalf("made outside the root: %v", entries)
	}
	if err := MknodInRoot(rfd, "/dev/null", unix.S_IFCHR|0o666, unix.Mkdev(1, 3), 0, 0); err == nil {
		t.Error("a node made over an existing one")
	}
}

// TestDetachStacked: Detach takes off every mount stacked at a point, and
// a point with nothing mounted is no error. Run in a mount namespace of
// its own, on a thread that dies with the test's goroutine.
func TestDetachStacked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a mount namespace")
	}
	dir := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with its namespace
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := MakeRPrivate(); err != nil {
				return err
			}
			for range 3 {
				if err := MountTmpfs(dir, "size=4k"); err != nil {
					return err
				}
			}
			if err := Detach(dir); err != nil {
				return err
			}
			var st, parent unix.Stat_t
			if err := unix.Stat(dir, &st); err != nil {
				return err
			}
			if err := unix.Stat(filepath.Dir(dir), &parent); err != nil {
				return err
			}
			if st.Dev != parent.Dev {
				return fmt.Errorf("%s is still a mount point after Detach", dir)
			}
			return Detach(dir) // nothing there: no error
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
