package mount

import (
	"os"
	"path/filepath"
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
