package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mergedEntries lists WriteMerged's output as "name" (directories end in
// /), "name=content" for files, "name->target" for symlinks and
// "name=>first" for hard links.
func mergedEntries(t *testing.T, layers []MergedLayer, opts MergeOptions) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteMerged(&buf, layers, opts); err != nil {
		t.Fatal(err)
	}
	var out []string
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			out = append(out, hdr.Name+"="+string(b))
		case tar.TypeSymlink:
			out = append(out, hdr.Name+"->"+hdr.Linkname)
		case tar.TypeLink:
			out = append(out, hdr.Name+"=>"+hdr.Linkname)
		default:
			out = append(out, hdr.Name)
		}
	}
}

// writeUnder writes content to base/p, making its parents.
func writeUnder(t *testing.T, base, p, content string) {
	t.Helper()
	full := filepath.Join(base, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteMerged(t *testing.T) {
	base := t.TempDir()
	mk := func(p, content string) { writeUnder(t, base, p, content) }
	mk("low/bin/sh", "low sh")
	mk("low/bin/ls", "low ls")
	mk("low/etc/a", "low a")
	mk("low/lib/x", "low x")
	mk("low/data/f", "low f")
	mk("mid/bin/sh", "mid sh")
	mk("mid/etc/b", "mid b")
	mk("mid/data", "a file over a directory")
	if err := os.Symlink("/elsewhere", filepath.Join(base, "mid/lib")); err != nil {
		t.Fatal(err)
	}
	mk("top/etc/a", "top a")
	mk("top/data/g", "top g") // a directory over mid's file: low's stays hidden
	if err := os.Link(filepath.Join(base, "top/etc/a"), filepath.Join(base, "top/etc/a2")); err != nil {
		t.Fatal(err)
	}
	l := func(names ...string) []MergedLayer {
		var out []MergedLayer
		for _, n := range names {
			out = append(out, MergedLayer{Dir: filepath.Join(base, n)})
		}
		return out
	}
	only := func(paths ...string) func(string, bool) bool {
		return func(p string, dir bool) bool { return dir || slices.Contains(paths, p) }
	}
	for _, tc := range []struct {
		name   string
		layers []MergedLayer
		opts   MergeOptions
		want   []string
	}{
		{"one layer", l("low"), MergeOptions{}, []string{
			"bin/", "bin/ls=low ls", "bin/sh=low sh", "data/", "data/f=low f", "etc/", "etc/a=low a", "lib/", "lib/x=low x",
		}},
		{"upper wins, directories merge, non-directories hide", l("top", "mid", "low"), MergeOptions{}, []string{
			"bin/", "bin/ls=low ls", "bin/sh=mid sh", "data/", "data/g=top g",
			"etc/", "etc/a=top a", "etc/a2=>etc/a", "etc/b=mid b", "lib->/elsewhere",
		}},
		{"prefix", l("mid"), MergeOptions{Prefix: "rootfs"}, []string{
			"rootfs/", "rootfs/bin/", "rootfs/bin/sh=mid sh", "rootfs/data=a file over a directory", "rootfs/etc/", "rootfs/etc/b=mid b", "rootfs/lib->/elsewhere",
		}},
		{"kept entries only, lower ones show through", []MergedLayer{
			{Dir: filepath.Join(base, "mid"), Keep: only("etc/b")},
			{Dir: filepath.Join(base, "low"), Keep: only("bin/sh", "lib/x")},
		}, MergeOptions{}, []string{
			"bin/", "bin/sh=low sh", "data/", "etc/", "etc/b=mid b", "lib/", "lib/x=low x",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergedEntries(t, tc.layers, tc.opts)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
	if err := WriteMerged(io.Discard, nil, MergeOptions{}); err == nil {
		t.Error("no layers: no error")
	}
	if err := WriteMerged(io.Discard, l("missing"), MergeOptions{}); err == nil {
		t.Error("missing layer: no error")
	}
}

func TestWriteMergedWhiteouts(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	mk := func(p, content string) { writeUnder(t, base, p, content) }
	mk("low/etc/passwd", "low")
	mk("low/etc/group", "low")
	mk("low/opt/a", "low")
	mk("low/var/x", "low")
	if err := os.MkdirAll(filepath.Join(base, "up/etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(base, "up/etc/passwd"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(base, "up/var"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	mk("up/opt/b", "up")
	if err := unix.Setxattr(filepath.Join(base, "up/opt"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	got := mergedEntries(t, []MergedLayer{{Dir: filepath.Join(base, "up")}, {Dir: filepath.Join(base, "low")}}, MergeOptions{})
	want := []string{"etc/", "etc/group=low", "opt/", "opt/b=up"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
