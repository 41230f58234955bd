package testutil

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// naiveExtract is a deliberately vulnerable extractor: it takes absolute
// names as they are, joins the rest with filepath.Join (which resolves ..),
// follows symlinks everywhere and applies whiteouts by path. Device nodes
// are skipped.
func naiveExtract(t *testing.T, root string, l v1.Layer) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	target := func(name string) string {
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(root, name)
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		dir, base := filepath.Split(h.Name)
		switch {
		case base == WhiteoutOpaque:
			// Errors are ignored throughout: a naive extractor presses on.
			ents, _ := os.ReadDir(target(dir))
			for _, e := range ents {
				_ = os.RemoveAll(filepath.Join(target(dir), e.Name()))
			}
		case strings.HasPrefix(base, WhiteoutPrefix):
			_ = os.RemoveAll(target(filepath.Join(dir, strings.TrimPrefix(base, WhiteoutPrefix))))
		case h.Typeflag == tar.TypeDir:
			_ = os.MkdirAll(target(h.Name), 0o755)
		case h.Typeflag == tar.TypeSymlink:
			_ = os.Symlink(h.Linkname, target(h.Name))
		case h.Typeflag == tar.TypeLink:
			_ = os.Link(target(h.Linkname), target(h.Name))
		case h.Typeflag == tar.TypeReg:
			f, err := os.OpenFile(target(h.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				continue
			}
			_, _ = io.Copy(f, io.LimitReader(tr, 1<<20))
			_ = f.Close()
		}
	}
}

func TestHostileLayersAreHostile(t *testing.T) {
	t.Parallel()
	for _, h := range HostileLayers(t, HostileOptions{BombSize: 1 << 20}) {
		if h.CheckHost == nil {
			continue
		}
		t.Run(h.Name, func(t *testing.T) {
			// Fresh layers aimed at a fresh escape dir for each attack.
			esc := t.TempDir()
			var hl HostileLayer
			for _, x := range HostileLayers(t, HostileOptions{EscapeDir: esc, BombSize: 1 << 20}) {
				if x.Name == h.Name {
					hl = x
				}
			}
			if err := hl.CheckHost(); err != nil {
				t.Fatalf("check fails before extraction: %v", err)
			}
			root := t.TempDir()
			for _, l := range hl.Layers {
				naiveExtract(t, root, l)
			}
			if err := hl.CheckHost(); err == nil {
				t.Fatalf("the naive extractor survived %s: the attack does not work", hl.Name)
			} else {
				t.Logf("naive extractor: %v", err)
			}
		})
	}
}

func TestHostileLayersVersusUmoci(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("umoci"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs umoci and root")
	}
	hs := HostileLayers(t, HostileOptions{BombSize: 1 << 20})
	layoutDir := filepath.Join(t.TempDir(), "layout")
	for _, h := range hs {
		WriteOCILayout(t, layoutDir, h.Image(t), h.Name)
	}
	for _, h := range hs {
		bundle := filepath.Join(t.TempDir(), "bundle")
		out, err := exec.CommandContext(t.Context(), "umoci", "unpack", "--image", layoutDir+":"+h.Name, bundle).CombinedOutput()
		if h.WantError && h.Name != "gzip-bomb" && err == nil { // a 1 MiB bomb is within umoci's means
			t.Errorf("%s: umoci unpack succeeded", h.Name)
		}
		if h.CheckHost != nil {
			if cerr := h.CheckHost(); cerr != nil {
				t.Errorf("%s: umoci escaped (unpack err %v, %s): %v", h.Name, err, out, cerr)
			}
		}
		if h.CheckRootfs != nil && err == nil {
			if cerr := h.CheckRootfs(filepath.Join(bundle, "rootfs")); cerr != nil {
				t.Logf("%s: umoci: %v", h.Name, cerr)
			}
		}
	}
}

func TestGzipBomb(t *testing.T) {
	t.Parallel()
	const size = 5<<20 + 123
	b := NewGzipBomb(size)
	rc, err := b.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	comp, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Size(); n != int64(len(comp)) || n > size/500 {
		t.Fatalf("compressed size %d (Size %d) for %d bytes", len(comp), n, size)
	}
	if d, _ := b.Digest(); d != sha256Hash(comp) {
		t.Fatal("digest does not match the stream")
	}
	zr, err := gzip.NewReader(strings.NewReader(string(comp)))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	un, err := io.ReadAll(zr) // also checks the CRC and length trailer
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	if want, _ := b.UncompressedSize(); int64(len(un)) != want {
		t.Fatalf("uncompressed %d bytes, want %d", len(un), want)
	}
	if d, _ := b.DiffID(); d != sha256Hash(un) {
		t.Fatal("diff ID does not match the tar")
	}
	tr := tar.NewReader(strings.NewReader(string(un)))
	h, err := tr.Next()
	if err != nil || h.Name != "bomb" || h.Size != size {
		t.Fatalf("tar header %+v, %v", h, err)
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(tr, size+1)); err != nil || n != size {
		t.Fatalf("bomb body %d bytes, %v", n, err)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the bomb: %v, want EOF", err)
	}
}

func TestTruncatedGzipFails(t *testing.T) {
	t.Parallel()
	for _, h := range HostileLayers(t, HostileOptions{BombSize: 1 << 20}) {
		if h.Name != "truncated-gzip" {
			continue
		}
		rc, err := h.Layers[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(rc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(zr, 1<<30)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("decompressing the truncated layer: %v, want unexpected EOF", err)
		}
		return
	}
	t.Fatal("no truncated-gzip layer")
}

// TestHostileLayersThroughRegistry checks that a real registry stores and
// serves every hostile layer unchanged (registries do not look inside).
func TestHostileLayersThroughRegistry(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{})
	for _, h := range HostileLayers(t, HostileOptions{BombSize: 8 << 20}) {
		img := h.Image(t)
		ref := r.Ref("hostile/"+h.Name, "latest")
		r.Push(t, ref, img)
		got, err := remote.Image(r.ParseRef(t, ref), r.RemoteOptions()...)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if Digest(t, got) != Digest(t, img) {
			t.Fatalf("%s: digest changed", h.Name)
		}
		layers, err := got.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed() // verifies digest and size
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, rc)
			_ = rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
		}
	}
}
