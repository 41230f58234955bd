package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func inodeFlags(t *testing.T, dir string) (uint32, error) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	return unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
}

func TestSpreadNewTrees(t *testing.T) {
	dir := t.TempDir()
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("%s is not on ext4 (file system type %#x): the flag is ext4's", dir, sfs.Type)
	}
	before, err := inodeFlags(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if before&fsTopdirFL != 0 {
		t.Fatalf("%s has FS_TOPDIR_FL already", dir)
	}
	for range 2 { // the second time finds it set
		if err := SpreadNewTrees(dir); err != nil {
			t.Fatal(err)
		}
	}
	after, err := inodeFlags(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if after != before|fsTopdirFL {
		t.Errorf("flags %#x, want %#x: FS_TOPDIR_FL added, the others kept", after, before|fsTopdirFL)
	}
	if err := SpreadNewTrees(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing directory: %v", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := SpreadNewTrees(link); err == nil {
		t.Error("a symlink was followed")
	}
}
