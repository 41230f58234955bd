package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// otherArch is an architecture that is not this one.
func otherArch() string {
	if runtime.GOARCH == "s390x" {
		return "ppc64le"
	}
	return "s390x"
}

// hashOf is d as a ggcr hash.
func hashOf(d digest.Digest) v1.Hash {
	return v1.Hash{Algorithm: d.Algorithm().String(), Hex: d.Encoded()}
}

// descOf describes b with media type mt.
func descOf(mt types.MediaType, b []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: hashOf(digest.FromBytes(b))}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configFor returns an image config for this platform listing diffIDs.
func configFor(t testing.TB, os, arch string, diffIDs ...digest.Digest) []byte {
	t.Helper()
	cf := v1.ConfigFile{OS: os, Architecture: arch, RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}}
	for _, d := range diffIDs {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, hashOf(d))
	}
	cf.Config.Cmd = []string{"/bin/true"}
	return mustJSON(t, cf)
}

// manifestFor returns an OCI image manifest.
func manifestFor(t testing.TB, mt types.MediaType, cfg v1.Descriptor, layers ...v1.Descriptor) []byte {
	t.Helper()
	m := v1.Manifest{SchemaVersion: 2, MediaType: mt, Config: cfg, Layers: layers}
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	return mustJSON(t, m)
}

// indexFor returns an OCI image index.
func indexFor(t testing.TB, entries ...v1.Descriptor) []byte {
	t.Helper()
	return mustJSON(t, v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: entries})
}

func withPlatform(d v1.Descriptor, os, arch string) v1.Descriptor {
	d.Platform = &v1.Platform{OS: os, Architecture: arch}
	return d
}

// blobGetter serves blobs by digest the way the real getters do: by
// descriptor, bounded by min(limit, size).
type blobGetter struct {
	blobs map[digest.Digest][]byte
	calls []getCall
}

type getCall struct {
	desc  v1.Descriptor
	limit int64
}

func newGetter(bs ...[]byte) *blobGetter {
	g := &blobGetter{blobs: map[digest.Digest][]byte{}}
	for _, b := range bs {
		g.blobs[digest.FromBytes(b)] = b
	}
	return g
}

func (g *blobGetter) get(d v1.Descriptor, limit int64) ([]byte, error) {
	g.calls = append(g.calls, getCall{desc: d, limit: limit})
	dg, err := digest.Parse(d.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("getter called with invalid digest %q", d.Digest.String())
	}
	b, ok := g.blobs[dg]
	if !ok {
		return nil, errdefs.NotFound(fmt.Errorf("blob %s not found", dg))
	}
	if n := min(limit, d.Size); int64(len(b)) > n {
		return nil, errdefs.TooLarge(fmt.Errorf("blob %s: over the %d byte limit", dg, n))
	}
	return b, nil
}

// testImage is a random image for this platform with n gzip layers.
func testImage(t testing.TB, n int64) v1.Image {
	t.Helper()
	img, err := random.Image(128, n)
	if err != nil {
		t.Fatal(err)
	}
	return withPlatformConfig(t, img, "linux", runtime.GOARCH)
}

func withPlatformConfig(t testing.TB, img v1.Image, os, arch string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// imageDigests returns an image's manifest digest, config digest and
// layer digests.
func imageDigests(t testing.TB, img v1.Image) (digest.Digest, digest.Digest, []digest.Digest) {
	t.Helper()
	md, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	cd, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var lds []digest.Digest
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		lds = append(lds, digest.Digest(d.String()))
	}
	return digest.Digest(md.String()), digest.Digest(cd.String()), lds
}

// tarEntry is one member of a test archive.
type tarEntry struct {
	name     string
	body     []byte
	typeflag byte
	linkname string
}

func reg(name string, body []byte) tarEntry { return tarEntry{name: name, body: body} }

// writeTar writes entries as an uncompressed tar at p.
func writeTar(t testing.TB, p string, entries ...tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		tf := e.typeflag
		if tf == 0 {
			tf = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: tf, Mode: 0o644, Linkname: e.linkname}
		if tf == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if tf == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if tf == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarDir writes the regular files and directories under dir as a tar at p,
// with names relative to dir prefixed by prefix.
func tarDir(t testing.TB, dir, p, prefix string) {
	t.Helper()
	var entries []tarEntry
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		name := prefix + filepath.ToSlash(rel)
		if info.IsDir() {
			entries = append(entries, tarEntry{name: name + "/", typeflag: tar.TypeDir})
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		entries = append(entries, reg(name, b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeTar(t, p, entries...)
}

// layerTar returns an uncompressed layer tar with one file.
func layerTar(t testing.TB, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, content); err != nil {
		t.Fatal(err)
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

// wantErr fails unless err is non-nil, carries kind k (when k is not
// KindUnknown) and contains every substring.
func wantErr(t testing.TB, err error, k errdefs.Kind, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", subs)
	}
	if k != errdefs.KindUnknown && !errdefs.Is(err, k) {
		t.Errorf("error %q is not of kind %q (it is %q)", err, k, errdefs.KindOf(err))
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

// check fails the test on a setup error.
func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
