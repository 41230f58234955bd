package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

func TestReadFileInLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteouts are 0/0 character devices and opaque dirs use trusted.* xattrs")
	}
	base := t.TempDir()
	mk := func(layer, p, content string) {
		full := filepath.Join(base, layer, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	whiteout := func(layer, p string) {
		full := filepath.Join(base, layer, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(full, unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}
	layers := func(names ...string) []string {
		var out []string
		for _, n := range names {
			d := filepath.Join(base, n)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}
	mk("l1", "etc/passwd", "one")
	mk("l2", "etc/group", "g")
	mk("l3", "etc/passwd", "three")
	whiteout("l4", "etc/passwd")
	mk("l5", "etc/passwd", "five")
	if err := os.MkdirAll(filepath.Join(base, "l6", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(base, "l6", "etc"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	mk("big", "etc/passwd", string(make([]byte, 100)))
	for _, tc := range []struct {
		name   string
		layers []string
		want   string
		kind   errdefs.Kind
	}{
		{"bottom only", layers("l1"), "one", 0},
		{"top wins", layers("l1", "l2", "l3"), "three", 0},
		{"lower layer seen through", layers("l1", "l2"), "one", 0},
		{"whiteout hides", layers("l1", "l3", "l4"), "", errdefs.KindNotFound},
		{"above a whiteout", layers("l1", "l4", "l5"), "five", 0},
		{"opaque dir hides", layers("l1", "l6"), "", errdefs.KindNotFound},
		{"too large", layers("big"), "", errdefs.KindTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFileInLayers(tc.layers, "/etc/passwd", 50)
			if tc.kind != 0 {
				if !errdefs.Is(err, tc.kind) {
					t.Fatalf("error = %v, want kind %v", err, tc.kind)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ReadFileInLayers = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// A symlinked /etc is not followed out of the layer.
	sym := filepath.Join(base, "sym")
	if err := os.MkdirAll(sym, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(sym, "etc")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFileInLayers([]string{sym}, "/etc/passwd", 1<<20); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("through a symlink to the host: %v", err)
	}
}
