package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/errdefs"
)

// fuzzLimits keep fuzz iterations small.
var fuzzLimits = Limits{MaxBytes: 4 << 20, MaxEntries: 200, MaxRatio: 50, RatioFloor: 1 << 20}

// fuzzApply applies layer into a fresh root next to a host dir and an empty
// canary dir, and checks that nothing outside the root changed and, in
// overlay mode, that the tree hash Apply returned is TreeHash(dir).
func fuzzApply(t *testing.T, layer []byte, mode WhiteoutMode) {
	d := newCanaryDirs(t)
	res, err := Apply(context.Background(), d.root, bytes.NewReader(layer), -1,
		Options{Whiteouts: mode, Limits: fuzzLimits, Chown: os.Geteuid() == 0})
	checkContained(t, d)
	if err != nil {
		if strings.Contains(err.Error(), "escapes the root") && !errdefs.Is(err, errdefs.KindUnsafe) {
			t.Fatalf("escape error not marked unsafe: %v", err)
		}
		return
	}
	if mode == WhiteoutOverlay {
		checkTreeHash(t, d.root, res.TreeHash)
	}
}

func fuzzSeeds(f *testing.F) [][]byte {
	host := "/tmp/fuzz-host"
	var seeds [][]byte
	for _, ents := range [][]tentry{
		basicLayer(),
		{sym("a", "/"), reg("a/etc/passwd", "x")},
		{sym("a", "../../.."), reg("a/x", "x")},
		{dir("a/"), reg("a/.wh.b", ""), reg("a/.wh..wh..opq", ""), reg("c", "c"), hard("d", "c")},
		{sym("a", host), reg("a/.wh.victim", ""), hard("x", "a/victim")},
		{dir("a/"), reg("a/f", "f"), sym("a", "b"), reg("a/g", "g")},
		{{name: "etc/sda", typ: tar.TypeBlock, major: 8}, {name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666}},
		{{name: "f", typ: tar.TypeReg, mode: 0o644, xattrs: map[string]string{"trusted.overlay.opaque": "y", "user.a": "b"}}},
	} {
		plain := buildTar(f, ents)
		seeds = append(seeds, plain, gzipBytes(f, plain), zstdBytes(f, plain))
	}
	return seeds
}

// FuzzApply feeds arbitrary bytes to Apply as a layer.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, false)
	}
	f.Add([]byte{}, true)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, layer []byte, apply bool) {
		mode := WhiteoutOverlay
		if apply {
			mode = WhiteoutApply
		}
		fuzzApply(t, layer, mode)
	})
}

// FuzzApplyOps builds a well-formed tar from the fuzz input with the
// hostile-name generator, so that the fuzzer explores entry sequences
// rather than tar checksums.
func FuzzApplyOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{20, 6, 0, 0, 0, 3, 1, 4, 7, 1, 0, 5, 0, 0, 0, 2, 1})
	f.Add([]byte("symlink then file below it, whiteouts and hardlinks"))
	f.Add(bytes.Repeat([]byte{7, 3, 1, 0, 9}, 30))
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) > 4096 {
			return
		}
		c := &byteChooser{b: program}
		mode := WhiteoutMode(c.intn(2))
		d := newCanaryDirs(t)
		layer := buildTar(t, genLayer(c, d.host, 40))
		res, err := Apply(context.Background(), d.root, bytes.NewReader(layer), int64(len(layer)),
			Options{Whiteouts: mode, Limits: fuzzLimits, Chown: os.Geteuid() == 0})
		checkContained(t, d)
		if err != nil || mode != WhiteoutOverlay {
			return
		}
		checkTreeHash(t, d.root, res.TreeHash)
	})
}

func TestCleanName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		bad      bool
	}{
		{"a", "a", false},
		{"/etc/passwd", "etc/passwd", false},
		{"///etc//passwd/", "etc/passwd", false},
		{"./a/./b/", "a/b", false},
		{"././/./a", "a", false},
		{"a/b/../c", "a/c", false},
		{"a/..", "", false},
		{"", "", false},
		{".", "", false},
		{"/", "", false},
		{"./", "", false},
		{"..", "", true},
		{"../x", "", true},
		{"a/../../x", "", true},
		{"/../x", "", true},
		{"./../x", "", true},
		{"a/../b/../..", "", true},
		{"..a", "..a", false},
		{"a..", "a..", false},
		{"a\x00b", "", true},
	} {
		got, err := CleanName(c.in)
		if c.bad {
			if err == nil || !errdefs.Is(err, errdefs.KindUnsafe) {
				t.Errorf("CleanName(%q) = %q, %v; want an unsafe error", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzCleanName checks CleanName's invariants: a result is clean, relative,
// never climbs out, and names the same place the input does inside a root.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a", "/etc/passwd", "../x", "a/../../x", "./a/./b/", "//a//", "..a", ".", "", "a/..", "/..", "\x00", ".wh..wh..opq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := CleanName(name)
		// The place the name would reach if ".." stopped at the root.
		confined := strings.TrimPrefix(path.Clean("/"+name), "/")
		if err != nil {
			if !errdefs.Is(err, errdefs.KindUnsafe) {
				t.Fatalf("CleanName(%q): error not unsafe: %v", name, err)
			}
			if !strings.Contains(name, "..") && !strings.Contains(name, "\x00") {
				t.Fatalf("CleanName(%q) refused a name without .. or NUL: %v", name, err)
			}
			return
		}
		if strings.HasPrefix(got, "/") || got == "." || got == ".." || strings.HasPrefix(got, "../") ||
			strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") {
			t.Fatalf("CleanName(%q) = %q climbs or is absolute", name, got)
		}
		if got != "" && path.Clean(got) != got {
			t.Fatalf("CleanName(%q) = %q is not clean", name, got)
		}
		if got != confined {
			t.Fatalf("CleanName(%q) = %q, but the name reaches %q", name, got, confined)
		}
	})
}
