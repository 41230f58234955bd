package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWriteDiffRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteouts are 0/0 character devices and opaque dirs use trusted.* xattrs")
	}
	upper := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(upper, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(upper, "etc", "new"), []byte("hello"), 0o640))
	must(os.Link(filepath.Join(upper, "etc", "new"), filepath.Join(upper, "etc", "link")))
	must(os.Symlink("/etc/shadow", filepath.Join(upper, "escape")))
	must(unix.Mknod(filepath.Join(upper, "etc", "gone"), unix.S_IFCHR, 0))
	must(os.MkdirAll(filepath.Join(upper, "opq"), 0o755))
	must(unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0))
	must(os.WriteFile(filepath.Join(upper, "opq", "kept"), []byte("k"), 0o600))

	var buf bytes.Buffer
	must(WriteDiff(upper, &buf, true, nil))
	got := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		got[h.Name] = h
	}
	for name, typ := range map[string]byte{
		"etc/": tar.TypeDir, "etc/link": tar.TypeReg, "etc/.wh.gone": tar.TypeReg, "escape": tar.TypeSymlink,
		"opq/": tar.TypeDir, "opq/.wh..wh..opq": tar.TypeReg, "opq/kept": tar.TypeReg,
	} {
		h, ok := got[name]
		if !ok || h.Typeflag != typ {
			t.Errorf("entry %q: %+v, want type %c", name, h, typ)
		}
	}
	if h := got["etc/new"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "etc/link" {
		t.Errorf("hard link not kept: %+v", h)
	}
	if got["escape"].Linkname != "/etc/shadow" {
		t.Errorf("symlink target = %q", got["escape"].Linkname)
	}
	// Applied onto a lower tree, the diff deletes, adds and makes opaque.
	lower := t.TempDir()
	must(os.MkdirAll(filepath.Join(lower, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(lower, "etc", "gone"), []byte("x"), 0o644))
	must(os.MkdirAll(filepath.Join(lower, "opq"), 0o755))
	must(os.WriteFile(filepath.Join(lower, "opq", "hidden"), []byte("x"), 0o644))
	if _, err := Apply(context.Background(), lower, bytes.NewReader(buf.Bytes()), -1, Options{Whiteouts: WhiteoutApply, Chown: true}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"etc/gone": false, "etc/new": true, "opq/hidden": false, "opq/kept": true} {
		if _, err := os.Lstat(filepath.Join(lower, p)); (err == nil) != want {
			t.Errorf("after applying the diff, %s exists = %v, want %v", p, err == nil, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(lower, "escape")); err != nil || target != "/etc/shadow" {
		t.Errorf("symlink applied as %q, %v", target, err)
	}
}
