package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// tentry describes one tar entry for tests.
type tentry struct {
	name     string
	typ      byte
	body     string
	link     string
	mode     int64
	uid, gid int
	mtime    time.Time
	xattrs   map[string]string
	major    int64
	minor    int64
}

var testTime = time.Unix(1600000000, 0)

func reg(name, body string) tentry {
	return tentry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) tentry { return tentry{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, target string) tentry {
	return tentry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hard(name, target string) tentry {
	return tentry{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

// buildTar returns the plain tar of ents.
func buildTar(t testing.TB, ents []tentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = testTime
		}
		h := &tar.Header{
			Name:     e.name,
			Typeflag: e.typ,
			Linkname: e.link,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  mt,
			Devmajor: e.major,
			Devminor: e.minor,
			Format:   tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// testDirs is a layer root and, next to it, a fake "host" directory holding
// a file "victim" that no layer may touch.
type testDirs struct {
	base, root, host string
}

const victimData = "host data\n"

func newDirs(t testing.TB) testDirs {
	t.Helper()
	base := t.TempDir()
	d := testDirs{base: base, root: filepath.Join(base, "root"), host: filepath.Join(base, "host")}
	for _, p := range []string{d.root, d.host} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(d.host, "victim"), []byte(victimData), 0o644); err != nil {
		t.Fatal(err)
	}
	// Layers make read-only and 0000 directories that t.TempDir's cleanup
	// cannot remove without root; RemoveAll makes them writable.
	t.Cleanup(func() {
		if err := RemoveAll(d.root); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return d
}

// checkTreeHash fails the test unless TreeHash(root) is want. Without root,
// a layer may leave files TreeHash cannot read: that is not checked.
func checkTreeHash(t testing.TB, root, want string) {
	t.Helper()
	th, err := TreeHash(root)
	if err != nil && os.Geteuid() != 0 && errors.Is(err, unix.EACCES) {
		return
	}
	if err != nil {
		t.Fatalf("TreeHash: %v", err)
	}
	if want == "" || th != want {
		t.Fatalf("Apply tree hash %q != TreeHash(dir) %q", want, th)
	}
}

// checkHost fails the test if the host directory changed or anything
// appeared next to the root.
func (d testDirs) checkHost(t testing.TB) {
	t.Helper()
	d.checkVictim(t)
	top, err := os.ReadDir(d.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if e.Name() != "root" && e.Name() != "host" && e.Name() != "canary" {
			t.Fatalf("unexpected %q next to the root", e.Name())
		}
	}
}

// checkVictim fails the test if the host directory changed.
func (d testDirs) checkVictim(t testing.TB) {
	t.Helper()
	ents, err := os.ReadDir(d.host)
	if err != nil {
		t.Fatalf("read host dir: %v", err)
	}
	if len(ents) != 1 || ents[0].Name() != "victim" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("host dir changed: %v", names)
	}
	fi, err := os.Lstat(filepath.Join(d.host, "victim"))
	if err != nil {
		t.Fatalf("host victim: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Fatalf("host victim mode changed: %v", fi.Mode())
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(d.host, "victim"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nlink != 1 {
		t.Fatalf("host victim has %d links", st.Nlink)
	}
	b, err := os.ReadFile(filepath.Join(d.host, "victim"))
	if err != nil || string(b) != victimData {
		t.Fatalf("host victim content changed: %q, %v", b, err)
	}
}

// debugLog collects Debugf lines.
type debugLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *debugLog) f(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *debugLog) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func applyBytes(t testing.TB, root string, layer []byte, opts Options) (*Result, error) {
	t.Helper()
	return Apply(context.Background(), root, bytes.NewReader(layer), int64(len(layer)), opts)
}

func mustApply(t testing.TB, root string, layer []byte, opts Options) *Result {
	t.Helper()
	res, err := applyBytes(t, root, layer, opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown, mknod and trusted.* xattrs")
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
