package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRemoveAllMissing(t *testing.T) {
	base := t.TempDir()
	for _, p := range []string{filepath.Join(base, "nope"), filepath.Join(base, "nope/deeper")} {
		if err := RemoveAll(p); err != nil {
			t.Errorf("RemoveAll(%s): %v", p, err)
		}
	}
	if err := RemoveAll("/"); err == nil {
		t.Errorf("RemoveAll(/) accepted")
	}
}

// makeTree builds a tree with awkward permissions, links out to the host
// and a deep chain of directories.
func makeTree(t *testing.T, d testDirs, tree string, depth int) {
	t.Helper()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(tree, p), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(tree, p), 0o755) })
	}
	write := func(p string) {
		if err := os.WriteFile(filepath.Join(tree, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("a/b/c")
	write("a/b/c/f")
	mk("locked/inner")
	write("locked/inner/f")
	write("locked/f")
	mk("readonly")
	write("readonly/f")
	for i := range 300 {
		write(fmt.Sprintf("a/many%d", i))
	}
	for _, l := range [][2]string{{d.host, "tohost"}, {filepath.Join(d.host, "victim"), "tovictim"}, {"/", "toroot"}, {"../../host", "a/rel"}} {
		if err := os.Symlink(l[0], filepath.Join(tree, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(d.host, "victim"), filepath.Join(tree, "hardvictim")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(tree, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	makeDeep(t, tree, depth)
	for _, p := range []string{"locked/inner", "locked"} {
		if err := os.Chmod(filepath.Join(tree, p), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "readonly"), 0o555); err != nil {
		t.Fatal(err)
	}
}

// makeDeep creates a chain of depth directories "d" under dir, by fd so
// that its path may exceed PATH_MAX.
func makeDeep(t *testing.T, dir string, depth int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range depth {
		if err := unix.Mkdirat(fd, "dddddddddddddddddddddddddddddddddddddddddddddddddd", 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, "dddddddddddddddddddddddddddddddddddddddddddddddddd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		fd = next
	}
	if err := unix.Mknodat(fd, "leaf", unix.S_IFREG|0o644, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
}

func TestRemoveAllTree(t *testing.T) {
	d := newDirs(t)
	tree := filepath.Join(d.base, "tree")
	makeTree(t, d, tree, 400)
	if err := RemoveAll(tree); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if exists(tree) {
		t.Errorf("tree still exists")
	}
	d.checkHost(t)
}

func TestRemoveAllSymlinkPath(t *testing.T) {
	d := newDirs(t)
	link := filepath.Join(d.base, "link")
	if err := os.Symlink(d.host, link); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(link); err != nil {
		t.Fatal(err)
	}
	if exists(link) {
		t.Errorf("link still exists")
	}
	d.checkHost(t)
	// A symlinked parent directory is followed: it is the caller's path.
	if err := os.Mkdir(filepath.Join(d.base, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(d.base, "alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.base, "real/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(filepath.Join(d.base, "alias/f")); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(d.base, "real/f")) {
		t.Errorf("real/f still exists")
	}
}

func TestRemoveAllFile(t *testing.T) {
	d := newDirs(t)
	f := filepath.Join(d.base, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(f); err != nil || exists(f) {
		t.Fatalf("RemoveAll(file): %v, exists %v", err, exists(f))
	}
}

// inMountNS runs f on a locked thread in a private mount namespace: the
// mounts f makes vanish with the thread. f must not call t.Fatal.
func inMountNS(t *testing.T, f func()) {
	t.Helper()
	needRoot(t)
	skip := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			skip <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			skip <- err
			return
		}
		f()
	}()
	<-done
	select {
	case err := <-skip:
		t.Skipf("needs root: cannot make a private mount namespace: %v", err)
	default:
	}
}

// mountsBelow lists the mount points at or below p in the calling thread's
// namespace.
func mountsBelow(p string) []string {
	ms, err := mountsUnder(p)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.point)
	}
	return out
}

// mountHostish mounts, under tree: a bind mount of the host dir (same file
// system), a tmpfs, two stacked tmpfs, a bind mount of the victim file, and
// a bind mount below the bind mount.
func mountHostish(t *testing.T, d testDirs, tree string) bool {
	for _, p := range []string{"a/bind", "b/tmpfs", "c/stacked", "e/sub"} {
		if err := os.MkdirAll(filepath.Join(tree, p), 0o755); err != nil {
			t.Error(err)
			return false
		}
	}
	if err := os.WriteFile(filepath.Join(tree, "e/file"), nil, 0o644); err != nil {
		t.Error(err)
		return false
	}
	steps := []struct {
		src, dst, fstype string
		flags            uintptr
	}{
		{d.host, "a/bind", "", unix.MS_BIND},
		{"tmpfs", "b/tmpfs", "tmpfs", 0},
		{"tmpfs", "c/stacked", "tmpfs", 0},
		{"tmpfs", "c/stacked", "tmpfs", 0},
		{filepath.Join(d.host, "victim"), "e/file", "", unix.MS_BIND},
		{d.host, "b/tmpfs", "", unix.MS_BIND}, // a bind mount of the host over the tmpfs
	}
	for _, s := range steps {
		if err := unix.Mount(s.src, filepath.Join(tree, s.dst), s.fstype, s.flags, ""); err != nil {
			t.Errorf("mount %s on %s: %v", s.src, s.dst, err)
			return false
		}
	}
	if err := os.WriteFile(filepath.Join(tree, "c/stacked/top"), []byte("x"), 0o644); err != nil {
		t.Error(err)
		return false
	}
	return true
}

func TestRemoveAllUnmounts(t *testing.T) {
	d := newDirs(t)
	tree := filepath.Join(d.base, "tree with space")
	inMountNS(t, func() {
		if !mountHostish(t, d, tree) {
			return
		}
		if err := RemoveAll(tree); err != nil {
			t.Errorf("RemoveAll: %v", err)
		}
		if ms := mountsBelow(tree); len(ms) != 0 {
			t.Errorf("mounts left: %v", ms)
		}
		if exists(tree) {
			t.Errorf("tree still exists")
		}
	})
	d.checkHost(t)
}

func TestRemoveAllMountedPath(t *testing.T) {
	d := newDirs(t)
	tree := filepath.Join(d.base, "tree")
	inMountNS(t, func() {
		if err := os.Mkdir(tree, 0o755); err != nil {
			t.Error(err)
			return
		}
		if err := unix.Mount("tmpfs", tree, "tmpfs", 0, ""); err != nil {
			t.Error(err)
			return
		}
		if !mountHostish(t, d, tree) {
			return
		}
		if err := RemoveAll(tree); err != nil {
			t.Errorf("RemoveAll: %v", err)
		}
		if ms := mountsBelow(tree); len(ms) != 0 {
			t.Errorf("mounts left: %v", ms)
		}
		if exists(tree) {
			t.Errorf("tree still exists")
		}
	})
	d.checkHost(t)
}

func TestRemoverRefusesToCrossMounts(t *testing.T) {
	d := newDirs(t)
	for _, sub := range []string{"a/bind", "e/file", "b/tmpfs"} {
		t.Run(sub, func(t *testing.T) {
			tree := filepath.Join(d.base, "tree")
			inMountNS(t, func() {
				if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(sub)), 0o755); err != nil {
					t.Error(err)
					return
				}
				src, target := d.host, filepath.Join(tree, sub)
				fstype, flags := "", uintptr(unix.MS_BIND)
				switch sub {
				case "e/file":
					src = filepath.Join(d.host, "victim")
					if err := os.WriteFile(target, nil, 0o644); err != nil {
						t.Error(err)
						return
					}
				case "b/tmpfs":
					src, fstype, flags = "tmpfs", "tmpfs", 0
				}
				if sub != "e/file" {
					if err := os.Mkdir(target, 0o755); err != nil {
						t.Error(err)
						return
					}
				}
				if err := unix.Mount(src, target, fstype, flags, ""); err != nil {
					t.Error(err)
					return
				}
				if sub == "b/tmpfs" {
					if err := os.WriteFile(filepath.Join(target, "precious"), nil, 0o644); err != nil {
						t.Error(err)
						return
					}
				}
				// The walk alone, without the unmount step.
				var stx unix.Statx_t
				pfd, _ := unix.Open(d.base, unix.O_RDONLY|unix.O_DIRECTORY, 0)
				defer unix.Close(pfd)
				if err := statxAt(pfd, "tree", &stx); err != nil {
					t.Error(err)
					return
				}
				err := newRemover(mountOf(&stx)).removeEntry(pfd, "tree", tree)
				if err == nil {
					t.Errorf("the walk crossed the mount at %s", sub)
				} else if !strings.Contains(err.Error(), "another file system or mount") && !errors.Is(err, unix.EBUSY) {
					t.Errorf("error %v", err)
				}
				if sub == "b/tmpfs" && !exists(filepath.Join(target, "precious")) {
					t.Errorf("the walk deleted a file on the tmpfs")
				}
				if err := RemoveAll(tree); err != nil {
					t.Errorf("RemoveAll: %v", err)
				}
			})
			d.checkHost(t)
		})
	}
}

func TestApplyWhiteoutDoesNotCrossMounts(t *testing.T) {
	d := newDirs(t)
	inMountNS(t, func() {
		m := filepath.Join(d.root, "m/bind")
		if err := os.MkdirAll(m, 0o755); err != nil {
			t.Error(err)
			return
		}
		if err := unix.Mount(d.host, m, "", unix.MS_BIND, ""); err != nil {
			t.Error(err)
			return
		}
		for _, ents := range [][]tentry{
			{reg(".wh.m", "")},
			{reg("m/.wh..wh..opq", "")},
			{reg("m", "replaces the dir")},
			{reg("m/bind/victim", "evil")},
		} {
			_, err := applyBytes(t, d.root, buildTar(t, ents), Options{Whiteouts: WhiteoutApply})
			if err == nil {
				t.Errorf("%s: crossed the mount", ents[0].name)
			}
		}
		if _, err := TreeHash(d.root); err == nil {
			t.Errorf("TreeHash crossed the mount")
		}
		_ = unix.Unmount(m, unix.MNT_DETACH)
	})
	d.checkHost(t)
}

// TestRemoveAllUnprivileged removes, as an unprivileged user, a tree with
// directories of mode 0000 and 0555, and a deep chain.
func TestRemoveAllUnprivileged(t *testing.T) {
	needRoot(t)
	const uid = 65534
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(base, "rootfs.test")
	copyFile(t, os.Args[0], bin)
	d := testDirs{base: base, root: filepath.Join(base, "root"), host: filepath.Join(base, "host")}
	if err := os.Mkdir(d.host, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.host, "victim"), []byte(victimData), 0o644); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(base, "owned")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(parent, "tree")
	makeTree(t, d, tree, 200)
	if err := os.Chown(parent, uid, uid); err != nil {
		t.Fatal(err)
	}
	chownAll(t, tree, uid)
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestHelperRemoveAll$")
	cmd.Env = append(os.Environ(), "RKT_ROOTFS_REMOVE_HELPER="+tree)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if exists(tree) {
		t.Errorf("tree still exists")
	}
	d.checkVictim(t)
}

// chownAll chowns every file below dir by fd (the tree is deeper than
// PATH_MAX), not following symlinks.
func chownAll(t *testing.T, dir string, uid int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fchown(fd, uid, uid); err != nil {
		t.Fatal(err)
	}
	chownAt(t, fd, uid)
	unix.Close(fd)
}

func chownAt(t *testing.T, fd, uid int) {
	ents, err := readDirents(fd, make([]byte, 8192))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.name == "hardvictim" {
			continue
		}
		if err := unix.Fchownat(fd, e.name, uid, uid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
		if e.dtype == unix.DT_DIR {
			sub, err := unix.Openat(fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			chownAt(t, sub, uid)
			unix.Close(sub)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHelperRemoveAll is run by TestRemoveAllUnprivileged as another user.
func TestHelperRemoveAll(t *testing.T) {
	p := os.Getenv("RKT_ROOTFS_REMOVE_HELPER")
	if p == "" {
		t.Skip("helper for TestRemoveAllUnprivileged")
	}
	if os.Geteuid() == 0 {
		t.Fatal("helper runs as root")
	}
	if err := RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:    "/a b",
		`/a\011\012`: "/a\t\n",
		`/a\134b`:    `/a\b`,
		`/plain`:     "/plain",
		`/bad\04`:    `/bad\04`,
		`/bad\9xx`:   `/bad\9xx`,
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
