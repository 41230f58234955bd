package rootfs

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// basicLayer exercises every entry type Apply handles.
func basicLayer() []tentry {
	t1 := time.Unix(1500000000, 0)
	return []tentry{
		{name: "./", typ: tar.TypeDir, mode: 0o755, mtime: t1},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755, mtime: t1},
		{name: "etc/passwd", typ: tar.TypeReg, body: "root:x:0:0::/root:/bin/sh\n", mode: 0o644, mtime: t1},
		{name: "usr/bin/su", typ: tar.TypeReg, body: "#!/bin/su\n", mode: 0o4755, uid: 0, gid: 0},
		{name: "usr/bin/wall", typ: tar.TypeReg, body: "wall", mode: 0o2755, uid: 0, gid: 5},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "home/user/", typ: tar.TypeDir, mode: 0o700, uid: 1000, gid: 1000, mtime: t1},
		{name: "home/user/notes", typ: tar.TypeReg, body: "hello", mode: 0o600, uid: 1000, gid: 1000,
			xattrs: map[string]string{"user.comment": "a note"}},
		{name: "home/user/ro", typ: tar.TypeDir, mode: 0o555, uid: 1000, gid: 1000},
		{name: "home/user/ro/inside", typ: tar.TypeReg, body: "x", mode: 0o444, uid: 1000, gid: 1000},
		{name: "bin", typ: tar.TypeSymlink, link: "usr/bin", mode: 0o777},
		{name: "usr/bin/sudo", typ: tar.TypeLink, link: "usr/bin/su"},
		{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		{name: "dev/loop0", typ: tar.TypeBlock, mode: 0o660, major: 7, minor: 0, gid: 6},
		{name: "etc/sda", typ: tar.TypeBlock, mode: 0o660, major: 8, minor: 0},
		{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
		{name: "empty", typ: tar.TypeReg, mode: 0o640},
		{name: "usr/lib/cap", typ: tar.TypeReg, body: "cap", mode: 0o755,
			xattrs: map[string]string{"security.capability": string(capNetBindService())}},
	}
}

// capNetBindService is a VFS_CAP_REVISION_2 security.capability value
// granting cap_net_bind_service (permitted, effective).
func capNetBindService() []byte {
	b := make([]byte, 20)
	// magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	b[0], b[1], b[2], b[3] = 0x01, 0x00, 0x00, 0x02
	b[5] = 1 << 2 // permitted[0], little endian: CAP_NET_BIND_SERVICE is bit 10
	return b
}

// TestApply covers the entry types, whiteouts and replacements.
func TestApply(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"basic", testApplyBasic},
		{"no-chown", testApplyNoChown},
		{"whiteouts/overlay", testWhiteoutOverlay},
		{"whiteouts/apply", testWhiteoutApply},
		{"replace", testApplyReplace},
		{"replace-same-layer", testApplySameLayerReplace},
		{"root-entry", testApplyRootEntry},
		{"missing-dir", testApplyMissingDir},
		{"setgid-parent", testApplySetgidParent},
	} {
		t.Run(c.name, c.f)
	}
}

func testApplyBasic(t *testing.T) {
	needRoot(t)
	plain := buildTar(t, basicLayer())
	sum := sha256.Sum256(plain)
	wantDiff := "sha256:" + hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name  string
		layer []byte
	}{
		{"plain", plain},
		{"gzip", gzipBytes(t, plain)},
		{"zstd", zstdBytes(t, plain)},
	} {
		for _, mode := range []WhiteoutMode{WhiteoutOverlay, WhiteoutApply} {
			t.Run(c.name+modeName(mode), func(t *testing.T) {
				d := newDirs(t)
				var log debugLog
				res := mustApply(t, d.root, c.layer, Options{Whiteouts: mode, Chown: true, Debugf: log.f})
				if string(res.DiffID) != wantDiff {
					t.Errorf("DiffID = %s, want %s", res.DiffID, wantDiff)
				}
				if res.Size != int64(len(plain)) {
					t.Errorf("Size = %d, want %d", res.Size, len(plain))
				}
				if res.Entries != len(basicLayer()) {
					t.Errorf("Entries = %d, want %d", res.Entries, len(basicLayer()))
				}
				checkBasic(t, d.root)
				if !log.has("outside /dev") {
					t.Errorf("no debug line for etc/sda: %v", log.lines)
				}
				if mode == WhiteoutOverlay {
					checkTreeHash(t, d.root, res.TreeHash)
				} else if res.TreeHash != "" {
					t.Errorf("TreeHash = %q in apply mode", res.TreeHash)
				}
			})
		}
	}
}

func modeName(m WhiteoutMode) string {
	if m == WhiteoutOverlay {
		return "/overlay"
	}
	return "/apply"
}

func checkBasic(t *testing.T, root string) {
	t.Helper()
	j := func(p string) string { return filepath.Join(root, p) }
	if got := readFile(t, j("etc/passwd")); got != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("etc/passwd = %q", got)
	}
	checkMode := func(p string, typ, perm uint32, uid, gid uint32) *unix.Stat_t {
		t.Helper()
		st := lstat(t, j(p))
		if st.Mode&unix.S_IFMT != typ || st.Mode&0o7777 != perm {
			t.Errorf("%s: mode %o, want %o|%o", p, st.Mode, typ, perm)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		return st
	}
	checkMode("usr/bin/su", unix.S_IFREG, 0o4755, 0, 0)
	checkMode("usr/bin/wall", unix.S_IFREG, 0o2755, 0, 5)
	checkMode("tmp", unix.S_IFDIR, 0o1777, 0, 0)
	checkMode("usr", unix.S_IFDIR, 0o755, 0, 0) // created as a missing parent
	checkMode("home/user", unix.S_IFDIR, 0o700, 1000, 1000)
	checkMode("home/user/notes", unix.S_IFREG, 0o600, 1000, 1000)
	checkMode("home/user/ro", unix.S_IFDIR, 0o555, 1000, 1000)
	checkMode("home/user/ro/inside", unix.S_IFREG, 0o444, 1000, 1000)
	checkMode("run/fifo", unix.S_IFIFO, 0o620, 0, 0)
	checkMode("empty", unix.S_IFREG, 0o640, 0, 0)
	null := checkMode("dev/null", unix.S_IFCHR, 0o666, 0, 0)
	if unix.Major(null.Rdev) != 1 || unix.Minor(null.Rdev) != 3 {
		t.Errorf("dev/null rdev %d:%d", unix.Major(null.Rdev), unix.Minor(null.Rdev))
	}
	loop := checkMode("dev/loop0", unix.S_IFBLK, 0o660, 0, 6)
	if unix.Major(loop.Rdev) != 7 || unix.Minor(loop.Rdev) != 0 {
		t.Errorf("dev/loop0 rdev %d:%d", unix.Major(loop.Rdev), unix.Minor(loop.Rdev))
	}
	if exists(j("etc/sda")) {
		t.Errorf("block device outside /dev was created")
	}
	// mtimes: files and directories (set after their children).
	for _, p := range []string{"etc/passwd", "etc", ".", "home/user"} {
		st := lstat(t, j(p))
		if st.Mtim.Sec != 1500000000 {
			t.Errorf("%s: mtime %d, want 1500000000", p, st.Mtim.Sec)
		}
	}
	if st := lstat(t, j("usr/bin/su")); st.Mtim.Sec != testTime.Unix() {
		t.Errorf("usr/bin/su mtime %d", st.Mtim.Sec)
	}
	// symlink
	if target, err := os.Readlink(j("bin")); err != nil || target != "usr/bin" {
		t.Errorf("bin -> %q, %v", target, err)
	}
	if st := lstat(t, j("bin")); st.Mtim.Sec != testTime.Unix() {
		t.Errorf("symlink mtime %d", st.Mtim.Sec)
	}
	// hardlink
	su, sudo := lstat(t, j("usr/bin/su")), lstat(t, j("usr/bin/sudo"))
	if su.Ino != sudo.Ino || su.Nlink != 2 {
		t.Errorf("sudo is not a hardlink of su: ino %d/%d nlink %d", su.Ino, sudo.Ino, su.Nlink)
	}
	// xattrs
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(j("home/user/notes"), "user.comment", buf)
	if err != nil || string(buf[:n]) != "a note" {
		t.Errorf("user.comment = %q, %v", buf[:max(n, 0)], err)
	}
	n, err = unix.Lgetxattr(j("usr/lib/cap"), "security.capability", buf)
	if err != nil || n != 20 {
		t.Errorf("security.capability: %d bytes, %v", n, err)
	}
}

func testApplyNoChown(t *testing.T) {
	d := newDirs(t)
	var log debugLog
	plain := buildTar(t, []tentry{
		{name: "a/file", typ: tar.TypeReg, body: "x", mode: 0o640, uid: 1234, gid: 5678},
		{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
	})
	res := mustApply(t, d.root, plain, Options{Debugf: log.f})
	st := lstat(t, filepath.Join(d.root, "a/file"))
	if st.Uid != uint32(os.Geteuid()) || st.Mode&0o777 != 0o640 {
		t.Errorf("a/file: uid %d mode %o", st.Uid, st.Mode)
	}
	if exists(filepath.Join(d.root, "dev/null")) {
		t.Errorf("device created without Chown")
	}
	if !log.has("dev/null") {
		t.Errorf("no debug line for the skipped device: %v", log.lines)
	}
	checkTreeHash(t, d.root, res.TreeHash)
}

func testWhiteoutOverlay(t *testing.T) {
	needRoot(t)
	d := newDirs(t)
	plain := buildTar(t, []tentry{
		dir("a/"),
		reg("a/.wh.gone", ""),
		reg("a/keep", "k"),
		dir("b/"),
		reg("b/.wh..wh..opq", ""),
		reg("b/new", "n"),
		reg("c/.wh..wh..opq", ""), // opaque for a directory with no entry of its own
		reg(".wh.top", ""),
		reg("a/.wh..wh.plnk", ""), // aufs metadata: skipped
	})
	res := mustApply(t, d.root, plain, Options{Whiteouts: WhiteoutOverlay, Chown: true})
	for _, p := range []string{"a/gone", "top"} {
		st := lstat(t, filepath.Join(d.root, p))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s is not a 0/0 whiteout: mode %o rdev %d", p, st.Mode, st.Rdev)
		}
	}
	for _, p := range []string{"b", "c"} {
		buf := make([]byte, 8)
		n, err := unix.Lgetxattr(filepath.Join(d.root, p), "trusted.overlay.opaque", buf)
		if err != nil || string(buf[:n]) != "y" {
			t.Errorf("%s: opaque xattr %q, %v", p, buf[:max(n, 0)], err)
		}
	}
	for _, p := range []string{"a/.wh.gone", "b/.wh..wh..opq", "a/.wh..wh.plnk", "a/..wh..wh.plnk"} {
		if exists(filepath.Join(d.root, p)) {
			t.Errorf("%s exists", p)
		}
	}
	checkTreeHash(t, d.root, res.TreeHash)
}

func testWhiteoutApply(t *testing.T) {
	d := newDirs(t)
	mustApply(t, d.root, buildTar(t, []tentry{
		dir("a/"), reg("a/gone", "g"), reg("a/keep", "k"),
		dir("a/sub/"), reg("a/sub/deep", "d"), dir("a/sub/deeper/"),
		dir("b/"), reg("b/old1", "1"), dir("b/olddir/"), reg("b/olddir/x", "x"), reg("b/replaced", "old"),
		dir("c/"), reg("c/old", "o"),
		reg("top", "t"),
	}), Options{Whiteouts: WhiteoutApply})
	mustApply(t, d.root, buildTar(t, []tentry{
		reg("a/.wh.gone", ""),
		reg("a/.wh.sub", ""),
		reg("a/.wh.missing", ""),
		reg("nodir/.wh.x", ""),
		reg("b/new", "n"),
		reg("b/replaced", "new"),
		reg("b/.wh..wh..opq", ""), // after this layer's own b/new: it stays
		dir("b/newdir/"),
		reg("c/.wh..wh..opq", ""),
		dir("c/"),
		reg(".wh.top", ""),
	}), Options{Whiteouts: WhiteoutApply})
	for _, p := range []string{"a/gone", "a/sub", "b/old1", "b/olddir", "c/old", "top", "nodir"} {
		if exists(filepath.Join(d.root, p)) {
			t.Errorf("%s still exists", p)
		}
	}
	for p, want := range map[string]string{"a/keep": "k", "b/new": "n", "b/replaced": "new"} {
		if got := readFile(t, filepath.Join(d.root, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"b/newdir", "c"} {
		if !exists(filepath.Join(d.root, p)) {
			t.Errorf("%s missing", p)
		}
	}
	for _, p := range []string{"a/.wh.gone", "b/.wh..wh..opq"} {
		if exists(filepath.Join(d.root, p)) {
			t.Errorf("%s exists", p)
		}
	}
}

func testApplyReplace(t *testing.T) {
	d := newDirs(t)
	mustApply(t, d.root, buildTar(t, []tentry{
		{name: "d/", typ: tar.TypeDir, mode: 0o700},
		reg("d/f", "f"),
		reg("file", "old"),
		dir("dir2file/"), reg("dir2file/x", "x"),
		sym("link", "file"),
		reg("file2dir", "x"),
	}), Options{Whiteouts: WhiteoutApply})
	mustApply(t, d.root, buildTar(t, []tentry{
		{name: "d/", typ: tar.TypeDir, mode: 0o750}, // dir over dir: metadata only
		reg("file", "new"),
		reg("dir2file", "now a file"),
		reg("link", "now a file too"),
		dir("file2dir/"),
		reg("file2dir/y", "y"),
	}), Options{Whiteouts: WhiteoutApply})
	if got := readFile(t, filepath.Join(d.root, "d/f")); got != "f" {
		t.Errorf("d/f = %q", got)
	}
	if st := lstat(t, filepath.Join(d.root, "d")); st.Mode&0o7777 != 0o750 {
		t.Errorf("d mode %o", st.Mode)
	}
	for p, want := range map[string]string{"file": "new", "dir2file": "now a file", "link": "now a file too", "file2dir/y": "y"} {
		if got := readFile(t, filepath.Join(d.root, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if st := lstat(t, filepath.Join(d.root, "link")); st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("link not replaced by a file")
	}
}

func testApplySameLayerReplace(t *testing.T) {
	// Entries replacing entries of the same layer: the tree hash falls back
	// to walking and must still agree.
	d := newDirs(t)
	res := mustApply(t, d.root, buildTar(t, []tentry{
		reg("a", "1"), reg("a", "2"),
		dir("b/"), reg("b/x", "x"), reg("b", "file now"),
		sym("c", "a"), dir("c/"), reg("c/y", "y"),
	}), Options{})
	if got := readFile(t, filepath.Join(d.root, "a")); got != "2" {
		t.Errorf("a = %q", got)
	}
	if got := readFile(t, filepath.Join(d.root, "b")); got != "file now" {
		t.Errorf("b = %q", got)
	}
	if got := readFile(t, filepath.Join(d.root, "c/y")); got != "y" {
		t.Errorf("c/y = %q", got)
	}
	checkTreeHash(t, d.root, res.TreeHash)
}

func testApplyRootEntry(t *testing.T) {
	d := newDirs(t)
	mustApply(t, d.root, buildTar(t, []tentry{{name: ".", typ: tar.TypeDir, mode: 0o750}, {name: "/", typ: tar.TypeDir, mode: 0o751}}), Options{})
	if st := lstat(t, d.root); st.Mode&0o7777 != 0o751 {
		t.Errorf("root mode %o", st.Mode)
	}
	_, err := applyBytes(t, d.root, buildTar(t, []tentry{reg(".", "x")}), Options{})
	if err == nil {
		t.Errorf("a file naming the root was accepted")
	}
}

func testApplyMissingDir(t *testing.T) {
	_, err := applyBytes(t, filepath.Join(t.TempDir(), "nope"), buildTar(t, []tentry{reg("a", "a")}), Options{})
	if err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func testApplySetgidParent(t *testing.T) {
	needRoot(t)
	d := newDirs(t)
	mustApply(t, d.root, buildTar(t, []tentry{
		{name: "sg/", typ: tar.TypeDir, mode: 0o2775, gid: 50},
	}), Options{Chown: true, Whiteouts: WhiteoutApply})
	mustApply(t, d.root, buildTar(t, []tentry{
		{name: "sg/f", typ: tar.TypeReg, body: "x", mode: 0o644, gid: 0},
		{name: "sg/sub/", typ: tar.TypeDir, mode: 0o755, gid: 0},
		{name: "sg/l", typ: tar.TypeSymlink, link: "f", gid: 0},
		{name: "sg/p", typ: tar.TypeFifo, mode: 0o600, gid: 0},
	}), Options{Chown: true, Whiteouts: WhiteoutApply})
	for _, p := range []string{"sg/f", "sg/sub", "sg/l", "sg/p"} {
		if st := lstat(t, filepath.Join(d.root, p)); st.Gid != 0 {
			t.Errorf("%s gid %d, want 0", p, st.Gid)
		}
	}
	if st := lstat(t, filepath.Join(d.root, "sg/sub")); st.Mode&0o7777 != 0o755 {
		t.Errorf("sg/sub mode %o, want 755", st.Mode)
	}
}
