package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// hostileCase is one hostile layer. host is the absolute path of the fake
// host directory, which holds "victim".
type hostileCase struct {
	name    string
	root    bool // needs root
	modes   []WhiteoutMode
	prepare func(t *testing.T, d testDirs) // runs before the layer is applied
	layer   func(host string) []tentry
	wantErr string       // substring of the error; "" for success
	kind    errdefs.Kind // error kind wanted, if any
	check   func(t *testing.T, d testDirs, log *debugLog)
}

func hostileCases() []hostileCase {
	return []hostileCase{
		{
			name:  "absolute name lands under the root",
			layer: func(string) []tentry { return []tentry{reg("/etc/passwd", "evil")} },
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, "etc/passwd")); got != "evil" {
					t.Errorf("root/etc/passwd = %q", got)
				}
			},
		},
		{
			name:  "absolute host path lands under the root",
			layer: func(host string) []tentry { return []tentry{reg(host+"/victim", "evil")} },
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, d.host, "victim")); got != "evil" {
					t.Errorf("got %q", got)
				}
			},
		},
		{
			name:    "dotdot",
			layer:   func(string) []tentry { return []tentry{reg("../x", "evil")} },
			wantErr: `layer entry "../x" escapes the root`,
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "dotdot after a component",
			layer:   func(string) []tentry { return []tentry{reg("a/../../x", "evil")} },
			wantErr: `layer entry "a/../../x" escapes the root`,
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "dotdot to the host",
			layer:   func(string) []tentry { return []tentry{reg("../host/victim", "evil")} },
			wantErr: "escapes the root",
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "absolute dotdot",
			layer:   func(string) []tentry { return []tentry{reg("/../host/victim", "evil")} },
			wantErr: "escapes the root",
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "dotdot directory",
			layer:   func(string) []tentry { return []tentry{dir("./../")} },
			wantErr: "escapes the root",
			kind:    errdefs.KindUnsafe,
		},
		{
			name: "symlink to / then a file below it",
			layer: func(host string) []tentry {
				return []tentry{sym("a", "/"), reg("a"+host+"/victim", "evil"), reg("a/etc/passwd", "evil")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, d.host, "victim")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
				if got := readFile(t, filepath.Join(d.root, "etc/passwd")); got != "evil" {
					t.Errorf("root/etc/passwd = %q", got)
				}
			},
		},
		{
			name: "symlink to the host dir then a file below it",
			layer: func(host string) []tentry {
				return []tentry{sym("a", host), reg("a/victim", "evil"), reg("a/new", "evil")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, d.host, "new")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
		{
			name: "relative symlink climbing out",
			layer: func(host string) []tentry {
				return []tentry{sym("a", "../../.."), reg("a"+host+"/victim", "evil"), sym("b", "../host"), reg("b/victim", "evil")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, d.host, "victim")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
				if got := readFile(t, filepath.Join(d.root, "host/victim")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
		{
			name: "symlink chain climbing out",
			layer: func(host string) []tentry {
				return []tentry{sym("a", "b/../.."), dir("b/"), sym("c", "a/host"), reg("c/victim", "evil")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, "host/victim")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
		{
			name: "symlink replaces a directory, then files below it",
			layer: func(host string) []tentry {
				return []tentry{dir("a/"), reg("a/f", "f"), sym("a", host), reg("a/victim", "evil"), dir("a/sub/"), reg("a/sub/x", "x")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if st := lstat(t, filepath.Join(d.root, "a")); st.Mode&unix.S_IFMT != unix.S_IFLNK {
					t.Errorf("a is not a symlink")
				}
				if got := readFile(t, filepath.Join(d.root, d.host, "victim")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
				if got := readFile(t, filepath.Join(d.root, d.host, "sub/x")); got != "x" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
		{
			name:    "hardlink to dotdot",
			layer:   func(string) []tentry { return []tentry{hard("x", "../../outside")} },
			wantErr: `hardlink target "../../outside" escapes the root`,
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "hardlink to the host by dotdot",
			layer:   func(string) []tentry { return []tentry{hard("x", "../host/victim")} },
			wantErr: "escapes the root",
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "hardlink through a symlinked parent pointing out",
			layer:   func(host string) []tentry { return []tentry{sym("l", host), hard("x", "l/victim")} },
			wantErr: "does not exist",
		},
		{
			name:    "hardlink through a relative symlink pointing out",
			layer:   func(string) []tentry { return []tentry{sym("l", "../host"), hard("x", "l/victim")} },
			wantErr: "does not exist",
		},
		{
			name: "hardlink through a symlinked parent is confined",
			layer: func(host string) []tentry {
				return []tentry{reg("host/victim", "inside"), sym("l", "../../host"), hard("x", "l/victim")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, "x")); got != "inside" {
					t.Errorf("x = %q", got)
				}
			},
		},
		{
			name:    "hardlink to an absolute host path",
			layer:   func(host string) []tentry { return []tentry{hard("x", host+"/victim")} },
			wantErr: "does not exist",
		},
		{
			name:    "hardlink to a directory",
			layer:   func(string) []tentry { return []tentry{dir("d/"), hard("x", "d")} },
			wantErr: "is a directory",
		},
		{
			name:    "hardlink to the root",
			layer:   func(string) []tentry { return []tentry{hard("x", "/")} },
			wantErr: "root directory",
		},
		{
			name: "hardlink to a symlink links the symlink",
			layer: func(host string) []tentry {
				return []tentry{sym("s", host+"/victim"), hard("x", "s"), reg("x", "evil")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, "x")); got != "evil" {
					t.Errorf("x = %q", got)
				}
			},
		},
		{
			name:  "whiteout through a symlink (apply)",
			modes: []WhiteoutMode{WhiteoutApply},
			layer: func(host string) []tentry { return []tentry{sym("a", host), reg("a/.wh.victim", "")} },
		},
		{
			name:  "whiteout through a symlink (overlay)",
			root:  true,
			modes: []WhiteoutMode{WhiteoutOverlay},
			layer: func(host string) []tentry { return []tentry{sym("a", host), reg("a/.wh.victim", "")} },
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				st := lstat(t, filepath.Join(d.root, d.host, "victim"))
				if st.Mode&unix.S_IFMT != unix.S_IFCHR {
					t.Errorf("whiteout not confined: mode %o", st.Mode)
				}
			},
		},
		{
			name: "whiteout of the host by relative symlink",
			layer: func(string) []tentry {
				return []tentry{sym("a", "../host"), reg("a/.wh.victim", ""), sym("b", "../../.."), reg("b/.wh.host", "")}
			},
		},
		{
			name:  "opaque through a symlink",
			root:  true,
			layer: func(host string) []tentry { return []tentry{sym("a", host), reg("a/.wh..wh..opq", "")} },
		},
		{
			name:    "invalid whiteout",
			layer:   func(string) []tentry { return []tentry{reg("a/.wh..", "")} },
			wantErr: "invalid whiteout",
			kind:    errdefs.KindUnsafe,
		},
		{
			name:    "invalid whiteout of nothing",
			layer:   func(string) []tentry { return []tentry{reg(".wh.", "")} },
			wantErr: "invalid whiteout",
		},
		{
			name: "device nodes outside /dev are skipped",
			root: true,
			layer: func(string) []tentry {
				return []tentry{
					{name: "etc/sda", typ: tar.TypeBlock, mode: 0o666, major: 8},
					{name: "mem", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 1},
					{name: "devx/kmsg", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 11},
				}
			},
			check: func(t *testing.T, d testDirs, log *debugLog) {
				for _, p := range []string{"etc/sda", "mem", "devx/kmsg"} {
					if exists(filepath.Join(d.root, p)) {
						t.Errorf("%s created", p)
					}
					if !log.has(p) {
						t.Errorf("no debug line for %s", p)
					}
				}
			},
		},
		{
			name: "device nodes below a symlinked dev are skipped",
			root: true,
			layer: func(string) []tentry {
				return []tentry{dir("etc/"), sym("dev", "etc"), {name: "dev/sda", typ: tar.TypeBlock, mode: 0o666, major: 8}}
			},
			check: func(t *testing.T, d testDirs, log *debugLog) {
				if exists(filepath.Join(d.root, "etc/sda")) {
					t.Errorf("etc/sda created")
				}
			},
		},
		{
			name: "hardlink takes no device node out of /dev",
			root: true,
			layer: func(string) []tentry {
				return []tentry{
					{name: "dev/sda", typ: tar.TypeBlock, mode: 0o666, major: 8},
					hard("etc/sda", "dev/sda"),
					hard("dev/sda2", "dev/sda"),
				}
			},
			check: func(t *testing.T, d testDirs, log *debugLog) {
				if exists(filepath.Join(d.root, "etc/sda")) {
					t.Errorf("etc/sda created")
				}
				if !exists(filepath.Join(d.root, "dev/sda2")) {
					t.Errorf("dev/sda2 missing")
				}
				if !log.has("hardlink to a device node outside /dev") {
					t.Errorf("no debug line: %v", log.lines)
				}
			},
		},
		{
			name: "trusted and other xattrs are skipped",
			root: true,
			layer: func(string) []tentry {
				return []tentry{
					{name: "d/", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{
						"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/etc", "user.ok": "1"}},
					{name: "f", typ: tar.TypeReg, mode: 0o644, xattrs: map[string]string{
						"trusted.overlay.metacopy": "", "security.selinux": "system_u:object_r:shadow_t:s0",
						"system.posix_acl_access": "\x02\x00\x00\x00", "user.overlay.redirect": "/x", "user.ok": "1"}},
					{name: "s", typ: tar.TypeSymlink, link: "f", xattrs: map[string]string{"user.x": "1"}},
				}
			},
			check: func(t *testing.T, d testDirs, log *debugLog) {
				for _, p := range []string{"d", "f"} {
					names := listXattrNames(t, filepath.Join(d.root, p))
					for _, n := range names {
						if n != "user.ok" && !strings.HasPrefix(n, "security.selinux") {
							t.Errorf("%s has xattr %s", p, n)
						}
					}
				}
				for _, n := range []string{"trusted.overlay.opaque", "trusted.overlay.redirect", "trusted.overlay.metacopy", "security.selinux", "system.posix_acl_access", "user.overlay.redirect", "user.x"} {
					if !log.has(n) {
						t.Errorf("no debug line for %s", n)
					}
				}
			},
		},
		{
			name:    "name too long",
			layer:   func(string) []tentry { return []tentry{reg(strings.Repeat("a/", 2100)+"x", "x")} },
			wantErr: "exceeds 4096 bytes",
			kind:    errdefs.KindTooLarge,
		},
		{
			name:    "link target too long",
			layer:   func(string) []tentry { return []tentry{sym("x", strings.Repeat("a", 5000))} },
			wantErr: "exceeds 4096 bytes",
			kind:    errdefs.KindTooLarge,
		},
		{
			name: "existing symlink in the root is not written through",
			prepare: func(t *testing.T, d testDirs) {
				if err := os.Symlink(filepath.Join(d.host, "victim"), filepath.Join(d.root, "x")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(d.host, filepath.Join(d.root, "etc")); err != nil {
					t.Fatal(err)
				}
			},
			modes: []WhiteoutMode{WhiteoutApply},
			layer: func(host string) []tentry {
				return []tentry{reg("x", "evil"), reg("etc/victim", "evil"), sym("etc/new", "x"), dir("etc/d/"), {name: "etc/p", typ: tar.TypeFifo, mode: 0o644}}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, "x")); got != "evil" {
					t.Errorf("x = %q", got)
				}
				if got := readFile(t, filepath.Join(d.root, d.host, "victim")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
		{
			name: "hardlink replacing a symlink to the host",
			prepare: func(t *testing.T, d testDirs) {
				if err := os.Symlink(filepath.Join(d.host, "victim"), filepath.Join(d.root, "x")); err != nil {
					t.Fatal(err)
				}
			},
			modes: []WhiteoutMode{WhiteoutApply},
			layer: func(string) []tentry { return []tentry{reg("y", "inside"), hard("x", "y"), sym("x", "y")} },
		},
		{
			name: "dangling symlink parent is created inside the root",
			layer: func(host string) []tentry {
				return []tentry{sym("a", host+"/newdir"), reg("a/f", "evil"), sym("b", "c"), sym("c", "../../nowhere"), reg("b/g", "evil")}
			},
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, d.host, "newdir/f")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
				if got := readFile(t, filepath.Join(d.root, "nowhere/g")); got != "evil" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
		{
			name:    "symlink loop parent",
			layer:   func(string) []tentry { return []tentry{sym("a", "b"), sym("b", "a"), reg("a/f", "x")} },
			wantErr: "too many levels of symbolic links",
		},
		{
			name:    "file as a parent",
			layer:   func(string) []tentry { return []tentry{reg("a", "x"), reg("a/f", "x")} },
			wantErr: "not a directory",
		},
		{
			name:  "magic link target is only text",
			layer: func(string) []tentry { return []tentry{sym("p", "/proc/self/root"), reg("p/etc/x", "x")} },
			check: func(t *testing.T, d testDirs, _ *debugLog) {
				if got := readFile(t, filepath.Join(d.root, "proc/self/root/etc/x")); got != "x" {
					t.Errorf("confined write = %q", got)
				}
			},
		},
	}
}

func listXattrNames(t *testing.T, p string) []string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		t.Fatalf("listxattr %s: %v", p, err)
	}
	var out []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func TestHostileLayers(t *testing.T) {
	for _, c := range hostileCases() {
		modes := c.modes
		if modes == nil {
			modes = []WhiteoutMode{WhiteoutOverlay, WhiteoutApply}
		}
		for _, mode := range modes {
			t.Run(c.name+modeName(mode), func(t *testing.T) {
				if c.root {
					needRoot(t)
				}
				d := newDirs(t)
				if c.prepare != nil {
					c.prepare(t, d)
				}
				var log debugLog
				layer := buildTar(t, c.layer(d.host))
				res, err := applyBytes(t, d.root, gzipBytes(t, layer), Options{Whiteouts: mode, Chown: os.Geteuid() == 0, Debugf: log.f})
				d.checkHost(t)
				switch {
				case c.wantErr != "" && err == nil:
					t.Fatalf("no error, want %q", c.wantErr)
				case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
					t.Fatalf("error %q, want %q", err, c.wantErr)
				case c.wantErr == "" && err != nil:
					t.Fatalf("Apply: %v", err)
				}
				if c.kind != errdefs.KindUnknown && !errdefs.Is(err, c.kind) {
					t.Errorf("error kind %v, want %v (%v)", errdefs.KindOf(err), c.kind, err)
				}
				if err == nil && mode == WhiteoutOverlay && c.prepare == nil {
					checkTreeHash(t, d.root, res.TreeHash)
				}
				if c.check != nil {
					c.check(t, d, &log)
				}
			})
		}
	}
}

// zeroBombLayer streams a tar holding one file of size zeros through gzip,
// without ever holding it in memory.
func zeroBombLayer(size int64) io.ReadCloser { return zeroBomb(size, false) }

func zeroBomb(size int64, useZstd bool) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		var zw io.WriteCloser
		if useZstd {
			zw, _ = zstd.NewWriter(pw, zstd.WithEncoderLevel(zstd.SpeedFastest))
		} else {
			zw, _ = gzip.NewWriterLevel(pw, gzip.BestSpeed)
		}
		tw := tar.NewWriter(zw)
		err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Size: size, Mode: 0o644})
		zero := make([]byte, 1<<20)
		for left := size; err == nil && left > 0; left -= int64(len(zero)) {
			_, err = tw.Write(zero[:min(left, int64(len(zero)))])
		}
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name    string
		layer   func() io.ReadCloser
		lim     Limits
		wantErr string
	}{
		{
			name:    "bytes",
			layer:   func() io.ReadCloser { return zeroBombLayer(4 << 30) },
			lim:     Limits{MaxBytes: 32 << 20},
			wantErr: "layer exceeds 32 MiB",
		},
		{
			name:    "bytes in a stream of many files",
			layer:   func() io.ReadCloser { return manyFilesLayer(1000, 1<<20) },
			lim:     Limits{MaxBytes: 32 << 20},
			wantErr: "layer exceeds 32 MiB uncompressed",
		},
		{
			name:    "ratio",
			layer:   func() io.ReadCloser { return zeroBombLayer(4 << 30) },
			lim:     Limits{MaxRatio: 100, RatioFloor: 8 << 20},
			wantErr: "compression ratio limit of 100:1",
		},
		{
			name:    "default ratio",
			layer:   func() io.ReadCloser { return zeroBomb(4<<30, true) },
			lim:     Limits{RatioFloor: 8 << 20},
			wantErr: "compression ratio limit of 1024:1",
		},
		{
			name: "entries",
			layer: func() io.ReadCloser {
				var ents []tentry
				for i := range 20 {
					ents = append(ents, reg(strings.Repeat("x", i+1), ""))
				}
				return io.NopCloser(bytes.NewReader(buildTar(t, ents)))
			},
			lim:     Limits{MaxEntries: 10},
			wantErr: "layer exceeds 10 entries",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDirs(t)
			r := c.layer()
			defer r.Close()
			start := time.Now()
			_, err := Apply(context.Background(), d.root, r, -1, Options{Limits: c.lim})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if !errdefs.Is(err, errdefs.KindTooLarge) {
				t.Errorf("error kind %v, want too large", errdefs.KindOf(err))
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestDeclaredSize(t *testing.T) {
	d := newDirs(t)
	layer := gzipBytes(t, buildTar(t, []tentry{reg("a", "aaaa")}))
	_, err := Apply(context.Background(), d.root, bytes.NewReader(layer), int64(len(layer)-1), Options{})
	if err == nil || !errdefs.Is(err, errdefs.KindTooLarge) {
		t.Fatalf("error %v, want too large", err)
	}
}

func TestCorruptStreams(t *testing.T) {
	plain := buildTar(t, []tentry{reg("a", strings.Repeat("data ", 20000)), reg("b", "bbb")})
	gz := gzipBytes(t, plain)
	zst := zstdBytes(t, plain)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff
	badMid := bytes.Clone(gz)
	badMid[len(badMid)/2] ^= 0xff
	cases := []struct {
		name    string
		layer   []byte
		wantErr string
	}{
		{"truncated gzip", gz[:len(gz)/2], "gzip"},
		{"truncated gzip trailer", gz[:len(gz)-4], "gzip"},
		{"gzip bad crc", badCRC, "gzip"},
		{"gzip corrupt", badMid, ""},
		{"truncated zstd", zst[:len(zst)/2], "zstd"},
		{"truncated tar", plain[:len(plain)/2], "truncated"},
		{"truncated tar in a file", plain[:700], "truncated"},
		{"truncated tar header", plain[:512*3+100], "truncated"},
		{"bzip2", append([]byte("BZh91AY&SY"), make([]byte, 100)...), "bzip2"},
		{"xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 100)...), "xz"},
		{"bad magic", bytes.Repeat([]byte("not a tar archive "), 100), "tar"},
		{"empty", nil, "empty"},
		{"gzip then garbage", append(bytes.Clone(gz), "garbage"...), "gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDirs(t)
			_, err := applyBytes(t, d.root, c.layer, Options{})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
		})
	}
}

// manyFilesLayer streams a gzip tar of n files of size bytes each.
func manyFilesLayer(n int, size int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		body := make([]byte, size)
		var err error
		for i := 0; err == nil && i < n; i++ {
			err = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Typeflag: tar.TypeReg, Size: size, Mode: 0o644})
			if err == nil {
				_, err = tw.Write(body)
			}
		}
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func TestDiffIDCoversTrailingData(t *testing.T) {
	plain := buildTar(t, []tentry{reg("a", "a")})
	plain = append(plain, bytes.Repeat([]byte{0}, 10240)...)
	plain = append(plain, "trailing junk inside the compression"...)
	sum := sha256.Sum256(plain)
	for _, layer := range [][]byte{plain, gzipBytes(t, plain), zstdBytes(t, plain)} {
		d := newDirs(t)
		res := mustApply(t, d.root, layer, Options{})
		if want := "sha256:" + hex.EncodeToString(sum[:]); string(res.DiffID) != want || res.Size != int64(len(plain)) {
			t.Errorf("DiffID %s size %d, want %s %d", res.DiffID, res.Size, want, len(plain))
		}
	}
	// gzip multistream: two members make one stream.
	half := len(plain) / 2
	multi := append(gzipBytes(t, plain[:half]), gzipBytes(t, plain[half:])...)
	d := newDirs(t)
	res := mustApply(t, d.root, multi, Options{})
	if res.DiffID.Encoded() != hex.EncodeToString(sum[:]) {
		t.Errorf("multistream DiffID %s", res.DiffID)
	}
}

func TestCancel(t *testing.T) {
	d := newDirs(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := zeroBombLayer(1 << 30)
	defer r.Close()
	_, err := Apply(ctx, d.root, r, -1, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r2 := zeroBombLayer(1 << 40)
	defer r2.Close()
	_, err = Apply(ctx, d.root, r2, -1, Options{Limits: Limits{MaxRatio: 1 << 40, MaxBytes: 1 << 41}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want deadline exceeded", err)
	}
}
