package testutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

func readTar(t *testing.T, r io.Reader) map[string]*tar.Header {
	t.Helper()
	tr := tar.NewReader(r)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		out[h.Name] = h
	}
}

func TestLayerCompressions(t *testing.T) {
	t.Parallel()
	entries := []TarEntry{
		Dir("d/", 0o700),
		{Name: "d/f", Body: []byte("body"), Uid: 1000, Gid: 1000, Mode: 0o4755, Xattrs: map[string]string{"user.k": "v"}},
		Symlink("d/s", "f"),
		Hardlink("d/h", "d/f"),
		{Name: "d/c", Type: tar.TypeChar, Devmajor: 1, Devminor: 3},
	}
	raw := TarBytes(t, entries)
	hs := readTar(t, bytes.NewReader(raw))
	if h := hs["d/f"]; h == nil || h.Mode != 0o4755 || h.Uid != 1000 || h.PAXRecords["SCHILY.xattr.user.k"] != "v" {
		t.Fatalf("d/f header: %+v", h)
	}
	if h := hs["d/c"]; h == nil || h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
		t.Fatalf("d/c header: %+v", h)
	}

	for _, c := range []struct {
		compression string
		mt          types.MediaType
		open        func(io.Reader) (io.Reader, error)
	}{
		{Gzip, types.OCILayer, func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{Zstd, "application/vnd.oci.image.layer.v1.tar+zstd", func(r io.Reader) (io.Reader, error) {
			d, err := zstd.NewReader(r)
			return d, err
		}},
		{None, types.OCIUncompressedLayer, func(r io.Reader) (io.Reader, error) { return r, nil }},
	} {
		l := Layer(t, entries, c.compression)
		if mt, _ := l.MediaType(); mt != c.mt {
			t.Errorf("%s: media type %s, want %s", c.compression, mt, c.mt)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		comp, _ := io.ReadAll(rc)
		if d, _ := l.Digest(); d != sha256Hash(comp) {
			t.Errorf("%s: digest is not the compressed bytes' digest", c.compression)
		}
		r, err := c.open(bytes.NewReader(comp))
		if err != nil {
			t.Fatal(err)
		}
		un, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(un, raw) {
			t.Errorf("%s: decompressed layer differs from the tar", c.compression)
		}
		if d, _ := l.DiffID(); d != sha256Hash(raw) {
			t.Errorf("%s: wrong diff ID", c.compression)
		}
	}
}

func TestImageConfig(t *testing.T) {
	t.Parallel()
	l1 := Layer(t, []TarEntry{File("a", 0o644, "a")}, Gzip)
	l2 := Layer(t, []TarEntry{File("b", 0o644, "b")}, None)
	cfg := v1.Config{Entrypoint: []string{"/a"}, Env: []string{"X=1"}, WorkingDir: "/w", User: "1000:1000"}
	for _, tc := range []struct {
		img             v1.Image
		manifest, layer types.MediaType
	}{
		{Image(t, cfg, l1, l2), types.OCIManifestSchema1, types.OCILayer},
		{DockerImage(t, cfg, l1, l2), types.DockerManifestSchema2, types.DockerLayer},
	} {
		m, err := tc.img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != tc.manifest || m.Layers[0].MediaType != tc.layer {
			t.Errorf("media types %s / %s, want %s / %s", m.MediaType, m.Layers[0].MediaType, tc.manifest, tc.layer)
		}
		cf, err := tc.img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || cf.Config.WorkingDir != "/w" || cf.Config.User != "1000:1000" {
			t.Errorf("config: %+v", cf)
		}
		d1, _ := l1.DiffID()
		d2, _ := l2.DiffID()
		if cf.RootFS.Type != "layers" || len(cf.RootFS.DiffIDs) != 2 || cf.RootFS.DiffIDs[0] != d1 || cf.RootFS.DiffIDs[1] != d2 {
			t.Errorf("rootfs: %+v", cf.RootFS)
		}
	}
}

func TestBusyboxLayer(t *testing.T) {
	t.Parallel()
	l := BusyboxLayer(t)
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	hs := readTar(t, rc)
	for _, p := range []string{"bin/busybox", "bin/sh", "bin/true", "etc/passwd", "etc/group", "tmp/", "proc/", "sys/", "dev/", "usr/bin/", "usr/sbin/", "sbin/", "root/"} {
		if hs[p] == nil {
			t.Errorf("busybox layer misses %s", p)
		}
	}
	if h := hs["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
		t.Errorf("bin/sh: %+v", h)
	}
	if h := hs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/: %+v", h)
	}
	img := BusyboxImage(t, v1.Config{Cmd: []string{"/bin/sh", "-c", "echo hi"}})
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Env) != 1 || !strings.HasPrefix(cf.Config.Env[0], "PATH=") {
		t.Errorf("env %v", cf.Config.Env)
	}
}

// umociUnpack unpacks layoutDir:tag with umoci and returns the rootfs.
func umociUnpack(t *testing.T, layoutDir, tag string) string {
	t.Helper()
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Skip("needs umoci")
	}
	if os.Geteuid() != 0 {
		t.Skip("umoci unpack needs root to set owners")
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	out, err := exec.CommandContext(t.Context(), "umoci", "unpack", "--image", layoutDir+":"+tag, bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	return filepath.Join(bundle, "rootfs")
}

func TestWhiteoutImageWithUmoci(t *testing.T) {
	t.Parallel()
	img, want := WhiteoutImage(t)
	dir := filepath.Join(t.TempDir(), "layout")
	WriteOCILayout(t, dir, img, "whiteout")
	CheckRootfs(t, umociUnpack(t, dir, "whiteout"), want)
}

func TestCheckRootfsCatchesDifferences(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	errs := checkRootfs(root, RootfsExpect{
		Entries: []RootfsEntry{
			{Path: "f", Type: tar.TypeReg, Body: "y"},
			{Path: "up/etc", Type: tar.TypeDir},
			{Path: "missing", Type: tar.TypeDir},
		},
		Absent: []string{"f"},
	})
	if len(errs) != 4 {
		t.Fatalf("got %d errors, want 4: %v", len(errs), errs)
	}
	if !strings.Contains(errors.Join(errs...).Error(), "parent up is a symlink") {
		t.Fatalf("symlinked parent not reported: %v", errs)
	}
}

func TestLayoutAndArchives(t *testing.T) {
	t.Parallel()
	img := smallImage(t)
	want := Digest(t, img)
	dir := t.TempDir()

	layoutDir := filepath.Join(dir, "layout")
	WriteOCILayout(t, layoutDir, img, "v1")
	WriteOCILayout(t, layoutDir, Image(t, v1.Config{}, Layer(t, []TarEntry{File("x", 0o644, "x")}, None)), "other")
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Manifests[0].Digest != want || im.Manifests[0].Annotations[RefNameAnnotation] != "v1" {
		t.Fatalf("index.json: %+v", im.Manifests)
	}

	ociArchive := filepath.Join(dir, "img.oci.tar")
	WriteOCIArchive(t, ociArchive, img, "v1")
	f, err := os.Open(ociArchive)
	if err != nil {
		t.Fatal(err)
	}
	hs := readTar(t, f)
	_ = f.Close()
	for _, n := range []string{"oci-layout", "index.json", "blobs/sha256/" + want.Hex} {
		if hs[n] == nil {
			t.Errorf("oci archive misses %s", n)
		}
	}

	dockerArchive := filepath.Join(dir, "img.docker.tar")
	WriteDockerArchive(t, dockerArchive, "example.com/app:v1", img)
	back, err := tarball.ImageFromPath(dockerArchive, nil)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := back.Layers()
	if err != nil || len(bl) != 2 {
		t.Fatalf("docker archive layers: %v, %v", len(bl), err)
	}
	f, err = os.Open(dockerArchive)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(f)
	var manifest []struct{ RepoTags []string }
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in the docker archive: %v", err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	_ = f.Close()
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != "example.com/app:v1" {
		t.Fatalf("docker archive manifest.json: %+v", manifest)
	}

	// An independent reader agrees.
	if _, err := exec.LookPath("skopeo"); err == nil {
		for _, src := range []string{"oci:" + layoutDir + ":v1", "oci-archive:" + ociArchive + ":v1", "docker-archive:" + dockerArchive} {
			out, err := exec.CommandContext(t.Context(), "skopeo", "inspect", "--raw", src).CombinedOutput()
			if err != nil {
				t.Errorf("skopeo inspect %s: %v\n%s", src, err, out)
			}
		}
	}
}

func TestRegistryIndexPerPlatform(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{Basic: map[string]string{"u": "p"}})
	amd := smallImage(t)
	arm := Image(t, v1.Config{Cmd: []string{"/arm"}}, Layer(t, []TarEntry{File("arm", 0o755, "arm\n")}, Gzip))
	for _, tc := range []struct {
		name string
		idx  v1.ImageIndex
		mt   types.MediaType
	}{
		{"oci", MultiArchIndex(t, map[string]v1.Image{"linux/amd64": amd, "linux/arm64/v8": arm}), types.OCIImageIndex},
		{"docker", DockerManifestList(t, map[string]v1.Image{"linux/amd64": DockerImage(t, v1.Config{}), "linux/arm64/v8": arm}), types.DockerManifestList},
	} {
		ref := r.Ref("multi/"+tc.name, "latest")
		r.PushIndex(t, ref, tc.idx)
		opts := []remote.Option{remote.WithAuth(&authn.Basic{Username: "u", Password: "p"}), remote.WithTransport(r.Transport())}
		desc, err := remote.Get(r.ParseRef(t, ref), opts...)
		if err != nil {
			t.Fatal(err)
		}
		if desc.MediaType != tc.mt {
			t.Errorf("%s: media type %s, want %s", tc.name, desc.MediaType, tc.mt)
		}
		for _, p := range []string{"linux/amd64", "linux/arm64/v8"} {
			img, err := remote.Image(r.ParseRef(t, ref), append(opts, remote.WithPlatform(parsePlatform(t, p)))...)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, p, err)
			}
			if got, want := Digest(t, img), Digest(t, PlatformImage(t, tc.idx, p)); got != want {
				t.Errorf("%s %s: got %s, want %s", tc.name, p, got, want)
			}
		}
	}
}
