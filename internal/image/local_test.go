package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// openLocal parses input and opens it as a local source.
func openLocal(t *testing.T, input string) (Source, error) {
	t.Helper()
	ref, err := ParseReference(input)
	if err != nil {
		t.Fatalf("ParseReference(%q): %v", input, err)
	}
	return NewLocal(ref)
}

// resolveLocal opens and resolves input, closing the source at the end of
// the test.
func resolveLocal(t *testing.T, input string) (Source, *Resolved, error) {
	t.Helper()
	src, err := openLocal(t, input)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { _ = src.Close() })
	r, err := src.Resolve(context.Background())
	return src, r, err
}

// checkImage asserts that r is img and that src serves its layers.
func checkImage(t *testing.T, src Source, r *Resolved, img v1.Image) {
	t.Helper()
	md, cd, lds := imageDigests(t, img)
	if r.Digest != md {
		t.Errorf("manifest digest = %s, want %s", r.Digest, md)
	}
	if r.ConfigDigest != cd || digest.FromBytes(r.Config) != cd {
		t.Errorf("config digest = %s, want %s", r.ConfigDigest, cd)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != len(lds) {
		t.Fatalf("%d layers, want %d", len(r.Layers), len(lds))
	}
	for i, l := range r.Layers {
		if l.Digest != lds[i] || l.DiffID.String() != cf.RootFS.DiffIDs[i].String() {
			t.Errorf("layer %d = %+v, want digest %s diff ID %s", i, l, lds[i], cf.RootFS.DiffIDs[i])
		}
		checkBlob(t, src, l)
	}
}

// checkBlob reads a layer through OpenBlob and checks its digest.
func checkBlob(t *testing.T, src Source, l Layer) {
	t.Helper()
	rc, err := src.OpenBlob(context.Background(), l.Digest, l.Size)
	if err != nil {
		t.Fatalf("OpenBlob %s: %v", l.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read blob %s: %v", l.Digest, err)
	}
	if got := digest.FromBytes(b); got != l.Digest || int64(len(b)) != l.Size {
		t.Errorf("blob %s: read %d bytes hashing to %s, want %d", l.Digest, len(b), got, l.Size)
	}
}

const refAnn = "org.opencontainers.image.ref.name"

// writeLayout writes an OCI layout at dir holding imgs, each under the
// ref name given with it.
func writeLayout(t *testing.T, dir string, imgs map[string]v1.Image) layout.Path {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range imgs {
		var opts []layout.Option
		if ref != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{refAnn: ref}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestOCILayout(t *testing.T) {
	img := testImage(t, 2)
	dir := filepath.Join(t.TempDir(), "My_Layout.oci")
	writeLayout(t, dir, map[string]v1.Image{"v1": img})

	for _, in := range []string{"oci:" + dir, "oci:" + dir + ":v1"} {
		t.Run(in, func(t *testing.T) {
			src, r, err := resolveLocal(t, in)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if r.Name != "localhost/my_layout:v1" {
				t.Errorf("name = %q, want localhost/my_layout:v1", r.Name)
			}
			checkImage(t, src, r, img)
		})
	}
	t.Run("unknown ref", func(t *testing.T) {
		_, _, err := resolveLocal(t, "oci:"+dir+":v2")
		wantErr(t, err, errdefs.KindNotFound, `no image with ref "v2"`, dir)
	})
}

func TestOCILayoutSeveralImages(t *testing.T) {
	a, b := testImage(t, 1), testImage(t, 1)
	dir := t.TempDir()
	writeLayout(t, dir, map[string]v1.Image{"a": a, "quay.io/team/app:v3": b})

	_, _, err := resolveLocal(t, "oci:"+dir)
	wantErr(t, err, errdefs.KindInvalidArgument, "layout holds 2 images", "a", "quay.io/team/app:v3")

	// A ref name with a slash cannot be given after the path (the ref is
	// what follows the last colon after the last slash), but it is taken
	// as the store name when it is a full image reference.
	sub := t.TempDir()
	writeLayout(t, sub, map[string]v1.Image{"quay.io/team/app": b})
	src, r, err := resolveLocal(t, "oci:"+sub)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "quay.io/team/app:latest" {
		t.Errorf("name = %q", r.Name)
	}
	checkImage(t, src, r, b)
	_, _, err = resolveLocal(t, "oci:"+sub+":quay.io/team/app")
	wantErr(t, err, errdefs.KindNotFound, "no such file")

	src, r, err = resolveLocal(t, "oci:"+dir+":a")
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, src, r, a)
}

func TestOCILayoutIndex(t *testing.T) {
	mine := testImage(t, 1)
	other := withPlatformConfig(t, testImage(t, 1), "linux", otherArch())
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch()}}},
		mutate.IndexAddendum{Add: mine, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refAnn: "multi"})); err != nil {
		t.Fatal(err)
	}
	src, r, err := resolveLocal(t, "oci:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if r.Index.String() != idxDigest.String() {
		t.Errorf("index = %s, want %s", r.Index, idxDigest)
	}
	checkImage(t, src, r, mine)
}

// corruptLayout writes a one-image layout and lets mut change it.
func corruptLayout(t *testing.T, mut func(dir string, img v1.Image)) string {
	t.Helper()
	img := testImage(t, 1)
	dir := t.TempDir()
	writeLayout(t, dir, map[string]v1.Image{"": img})
	mut(dir, img)
	return dir
}

func blobFile(t *testing.T, dir string, d digest.Digest) string {
	t.Helper()
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

func TestOCILayoutErrors(t *testing.T) {
	tests := []struct {
		name string
		mut  func(t *testing.T, dir string, img v1.Image)
		kind errdefs.Kind
		want []string
	}{
		{
			name: "no oci-layout",
			mut:  func(t *testing.T, dir string, _ v1.Image) { check(t, os.Remove(filepath.Join(dir, "oci-layout"))) },
			want: []string{"not an OCI image layout"},
		},
		{
			name: "empty oci-layout",
			mut: func(t *testing.T, dir string, _ v1.Image) {
				check(t, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{}`), 0o644))
			},
			want: []string{"oci-layout: not an OCI image layout"},
		},
		{
			name: "oci-layout over 4096 bytes",
			mut: func(t *testing.T, dir string, _ v1.Image) {
				check(t, os.WriteFile(filepath.Join(dir, "oci-layout"), bytes.Repeat([]byte(" "), 5000), 0o644))
			},
			kind: errdefs.KindTooLarge,
			want: []string{"not an OCI image layout"},
		},
		{
			name: "no index.json",
			mut:  func(t *testing.T, dir string, _ v1.Image) { check(t, os.Remove(filepath.Join(dir, "index.json"))) },
			want: []string{"read index.json"},
		},
		{
			name: "bad index.json",
			mut: func(t *testing.T, dir string, _ v1.Image) {
				check(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"manifests":{}}`), 0o644))
			},
			want: []string{"parse index.json"},
		},
		{
			name: "index.json over the manifest limit",
			mut: func(t *testing.T, dir string, _ v1.Image) {
				check(t, os.WriteFile(filepath.Join(dir, "index.json"), bytes.Repeat([]byte(" "), MaxManifestSize+1), 0o644))
			},
			kind: errdefs.KindTooLarge,
			want: []string{"read index.json", "over the 4194304 byte limit"},
		},
		{
			name: "empty layout",
			mut: func(t *testing.T, dir string, _ v1.Image) {
				check(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644))
			},
			kind: errdefs.KindInvalidArgument,
			want: []string{"layout holds 0 images"},
		},
		{
			name: "index entry with a bad digest",
			mut: func(t *testing.T, dir string, _ v1.Image) {
				check(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":2}]}`), 0o644))
			},
			want: []string{"manifest: invalid digest"},
		},
		{
			name: "manifest blob tampered",
			mut: func(t *testing.T, dir string, img v1.Image) {
				md, _, _ := imageDigests(t, img)
				p := blobFile(t, dir, md)
				b, _ := os.ReadFile(p)
				b[len(b)-1] = ' '
				check(t, os.WriteFile(p, b, 0o644))
			},
			kind: errdefs.KindDigestMismatch,
			want: []string{"content digest is"},
		},
		{
			name: "manifest blob longer than its descriptor",
			mut: func(t *testing.T, dir string, img v1.Image) {
				md, _, _ := imageDigests(t, img)
				p := blobFile(t, dir, md)
				b, _ := os.ReadFile(p)
				check(t, os.WriteFile(p, append(b, ' '), 0o644))
			},
			kind: errdefs.KindTooLarge,
			want: []string{"read manifest"},
		},
		{
			name: "manifest blob missing",
			mut: func(t *testing.T, dir string, img v1.Image) {
				md, _, _ := imageDigests(t, img)
				check(t, os.Remove(blobFile(t, dir, md)))
			},
			want: []string{"read manifest", "no such file"},
		},
		{
			name: "manifest blob is a directory",
			mut: func(t *testing.T, dir string, img v1.Image) {
				md, _, _ := imageDigests(t, img)
				p := blobFile(t, dir, md)
				check(t, os.Remove(p))
				check(t, os.Mkdir(p, 0o755))
			},
			want: []string{"read manifest", "not a regular file"},
		},
		{
			name: "manifest blob is a symlink to a device",
			mut: func(t *testing.T, dir string, img v1.Image) {
				md, _, _ := imageDigests(t, img)
				p := blobFile(t, dir, md)
				check(t, os.Remove(p))
				if err := os.Symlink("/dev/zero", p); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"read manifest", "not a regular file"},
		},
		{
			name: "config blob tampered",
			mut: func(t *testing.T, dir string, img v1.Image) {
				_, cd, _ := imageDigests(t, img)
				p := blobFile(t, dir, cd)
				b, _ := os.ReadFile(p)
				check(t, os.WriteFile(p, bytes.Replace(b, []byte("linux"), []byte("LINUX"), 1), 0o644))
			},
			kind: errdefs.KindDigestMismatch,
			want: []string{"config sha256:"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := corruptLayout(t, func(dir string, img v1.Image) { tc.mut(t, dir, img) })
			_, r, err := resolveLocal(t, "oci:"+dir)
			if r != nil {
				t.Errorf("resolved %+v", r)
			}
			wantErr(t, err, tc.kind, append(tc.want, "oci:"+dir)...)
		})
	}
}

// TestOCILayoutFIFO checks that a FIFO planted in a layout is refused,
// not opened for reading (which blocks until a writer comes).
func TestOCILayoutFIFO(t *testing.T) {
	for _, which := range []string{"oci-layout", "index.json", "manifest"} {
		t.Run(which, func(t *testing.T) {
			img := testImage(t, 1)
			dir := t.TempDir()
			writeLayout(t, dir, map[string]v1.Image{"": img})
			p := filepath.Join(dir, which)
			if which == "manifest" {
				md, _, _ := imageDigests(t, img)
				p = blobFile(t, dir, md)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				src, err := NewLocal(&Reference{Transport: OCILayout, Input: "oci:" + dir, Path: dir})
				if err == nil {
					_, err = src.Resolve(context.Background())
					src.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				wantErr(t, err, errdefs.KindUnknown, "not a regular file")
			case <-time.After(5 * time.Second):
				// Unblock the open so the goroutine ends.
				if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
					w.Close()
				}
				t.Fatalf("opening a FIFO %s in the layout hangs", which)
			}
		})
	}
}

func TestNewLocalErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "img.tar.gz")
	if err := os.WriteFile(gz, gzipBytes(t, []byte("tar")), 0o644); err != nil {
		t.Fatal(err)
	}
	zst := filepath.Join(dir, "img.tar.zst")
	if err := os.WriteFile(zst, []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.tar")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("garbage!"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		kind errdefs.Kind
		want string
	}{
		{in: "oci:" + filepath.Join(dir, "missing"), kind: errdefs.KindNotFound, want: "no such file"},
		{in: "oci:" + file, kind: errdefs.KindInvalidArgument, want: "is not a directory"},
		{in: "oci-archive:" + filepath.Join(dir, "missing.tar"), kind: errdefs.KindNotFound, want: "no such file"},
		{in: "docker-archive:" + filepath.Join(dir, "missing.tar"), kind: errdefs.KindNotFound, want: "no such file"},
		{in: "oci-archive:" + gz, kind: errdefs.KindInvalidArgument, want: "is compressed: decompress it first"},
		{in: "docker-archive:" + zst, kind: errdefs.KindInvalidArgument, want: "is compressed"},
		{in: "docker-archive:" + garbage, want: "read archive"},
		{in: "oci-archive:" + dir, want: "read archive"},
	}
	for _, tc := range tests {
		src, err := openLocal(t, tc.in)
		if err == nil {
			src.Close()
		}
		wantErr(t, err, tc.kind, tc.want, tc.in)
	}
	ref, err := ParseReference("docker://busybox")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLocal(ref); err == nil || !strings.Contains(err.Error(), "is not a local image") {
		t.Errorf("NewLocal(docker://busybox): err = %v", err)
	}
}

func TestOCIArchive(t *testing.T) {
	img := testImage(t, 2)
	root := t.TempDir()
	dir := filepath.Join(root, "layout")
	writeLayout(t, dir, map[string]v1.Image{"latest": img})
	for _, prefix := range []string{"", "./", "/"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "App-Image.tar")
			tarDir(t, dir, archive, prefix)
			for _, in := range []string{"oci-archive:" + archive, "oci-archive:" + archive + ":latest"} {
				src, r, err := resolveLocal(t, in)
				if err != nil {
					t.Fatalf("%s: %v", in, err)
				}
				if r.Name != "localhost/app-image:latest" {
					t.Errorf("name = %q", r.Name)
				}
				checkImage(t, src, r, img)
			}
		})
	}
}

// TestArchiveOnlyRegularFiles checks that archive members that are not
// regular files are never served: a symlink or hardlink named index.json
// must not read a host file.
func TestArchiveOnlyRegularFiles(t *testing.T) {
	img := testImage(t, 1)
	dir := t.TempDir()
	writeLayout(t, dir, map[string]v1.Image{"": img})
	layoutFile, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(t.TempDir(), "host-index.json")
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(host, index, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tf := range []byte{tar.TypeSymlink, tar.TypeLink} {
		archive := filepath.Join(t.TempDir(), "a.tar")
		writeTar(t, archive,
			reg("oci-layout", layoutFile),
			tarEntry{name: "index.json", typeflag: tf, linkname: host},
			tarEntry{name: "blobs/", typeflag: tar.TypeDir},
		)
		_, _, err := resolveLocal(t, "oci-archive:"+archive)
		wantErr(t, err, errdefs.KindUnknown, "read index.json", "file does not exist")
	}
}

func TestOpenBlobLocal(t *testing.T) {
	img := testImage(t, 1)
	dir := t.TempDir()
	writeLayout(t, dir, map[string]v1.Image{"": img})
	src, r, err := resolveLocal(t, "oci:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	l := r.Layers[0]
	ctx := context.Background()

	// A declared size smaller than the blob fails the read.
	rc, err := src.OpenBlob(ctx, l.Digest, l.Size-1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	wantErr(t, err, errdefs.KindTooLarge, "longer than its declared size")

	// A declared size larger than the blob is a truncated read.
	rc, err = src.OpenBlob(ctx, l.Digest, l.Size+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read past the end: err = %v, want unexpected EOF", err)
	}
	rc.Close()

	// Digests are validated before they become paths.
	for _, d := range []digest.Digest{"sha256:../../oci-layout", "sha256:" + digest.Digest(strings.Repeat("A", 64)), "", "index.json", digest.Digest("sha256:" + l.Digest.Encoded() + "/..")} {
		if rc, err := src.OpenBlob(ctx, d, 10); err == nil {
			rc.Close()
			t.Errorf("OpenBlob(%q) succeeded", d)
		}
	}
	// A valid digest that is not in the layout.
	_, err = src.OpenBlob(ctx, digest.FromString("nope"), 4)
	wantErr(t, err, errdefs.KindUnknown, "open blob", "no such file")
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := dirFiles{root: dir}
	b, err := readFile(fsys, "f", 10)
	if err != nil || string(b) != "0123456789" {
		t.Errorf("readFile at the limit = %q, %v", b, err)
	}
	_, err = readFile(fsys, "f", 9)
	wantErr(t, err, errdefs.KindTooLarge, "f: size 10 is over the 9 byte limit")
	_, err = readFile(fsys, "missing", 9)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestLocalName(t *testing.T) {
	tests := []struct {
		path, ref, want string
	}{
		{"/tmp/app.tar", "", "localhost/app:latest"},
		{"/tmp/app.tar", "v1.0", "localhost/app:v1.0"},
		{"/tmp/layout.oci", "stable", "localhost/layout:stable"},
		{"/tmp/My Image (2).tar", "", "localhost/my-image-2:latest"},
		{"/tmp/app.tar", "bad tag!", "localhost/app:latest"},
		{"/tmp/app.tar", "-x", "localhost/app:latest"},
		{"/tmp/app.tar", strings.Repeat("t", 129), "localhost/app:latest"},
		{"/tmp/...", "", "localhost/image:latest"},
		{"/tmp/___.tar", "", "localhost/image:latest"},
		{"/", "", "localhost/image:latest"},
		{"/tmp/app.tar", "quay.io/a/b:v2", "quay.io/a/b:v2"},
		{"/tmp/app.tar", "quay.io/a/b", "quay.io/a/b:latest"},
		{"/tmp/app.tar", "docker.io/library/busybox:1", "index.docker.io/library/busybox:1"},
		{"/tmp/app.tar", "a/B", "localhost/app:latest"},
		// Ref names that ggcr parses but the reference grammar rejects.
		{"/tmp/app.tar", "example.com/trusted/../evil", "localhost/app:latest"},
		{"/tmp/app.tar", "example.com//x:v1", "localhost/app:latest"},
		{"/tmp/app.tar", "example.com/x:..", "localhost/app:latest"},
	}
	for _, tc := range tests {
		l := &layoutSource{ref: &Reference{Path: tc.path}}
		got := l.localName(tc.ref)
		if got != tc.want {
			t.Errorf("localName(%q, %q) = %q, want %q", tc.path, tc.ref, got, tc.want)
		}
		if n, err := name.ParseReference(got, name.StrictValidation); err != nil || !wantRepoPathRE.MatchString(n.Context().RepositoryStr()) {
			t.Errorf("localName(%q, %q) = %q is not a valid name: %v", tc.path, tc.ref, got, err)
		}
	}
}

// dockerArchive writes a docker-archive of imgs by tag, as `docker save`.
func dockerArchive(t *testing.T, p string, imgs map[string]v1.Image) {
	t.Helper()
	refs := map[name.Reference]v1.Image{}
	for tag, img := range imgs {
		ref, err := name.ParseReference(tag)
		if err != nil {
			t.Fatal(err)
		}
		refs[ref] = img
	}
	if err := tarball.MultiRefWriteToFile(p, refs); err != nil {
		t.Fatal(err)
	}
}

func TestDockerArchive(t *testing.T) {
	img := testImage(t, 2)
	archive := filepath.Join(t.TempDir(), "app.tar")
	dockerArchive(t, archive, map[string]v1.Image{"example.com/team/app:v1": img})
	_, cd, lds := imageDigests(t, img)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}

	for _, in := range []string{"docker-archive:" + archive, "docker-archive:" + archive + ":v1"} {
		t.Run(in, func(t *testing.T) {
			src, r, err := resolveLocal(t, in)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if r.Name != "example.com/team/app:v1" {
				t.Errorf("name = %q", r.Name)
			}
			if r.ConfigDigest != cd || r.MediaType != types.DockerManifestSchema2 || r.ConfigMediaType != types.DockerConfigJSON {
				t.Errorf("config %s, media types %s %s", r.ConfigDigest, r.MediaType, r.ConfigMediaType)
			}
			if r.Digest != digest.FromBytes(r.Manifest) {
				t.Errorf("digest %s is not the synthesized manifest's", r.Digest)
			}
			if len(r.Layers) != 2 {
				t.Fatalf("layers = %+v", r.Layers)
			}
			for i, l := range r.Layers {
				if l.Digest != lds[i] || l.MediaType != types.DockerLayer || l.DiffID.String() != cf.RootFS.DiffIDs[i].String() {
					t.Errorf("layer %d = %+v, want %s", i, l, lds[i])
				}
				checkBlob(t, src, l)
			}
		})
	}
	_, _, err = resolveLocal(t, "docker-archive:"+archive+":v2")
	wantErr(t, err, errdefs.KindNotFound, `no image tagged "v2"`)
	// The ref is what follows the last colon, so a repo:tag ref cannot be
	// given: the path becomes "app.tar:team/app".
	_, err = openLocal(t, "docker-archive:"+archive+":example.com/team/app:v1")
	wantErr(t, err, errdefs.KindNotFound, "app.tar:example.com/team/app: no such file")
}

func TestDockerArchiveSeveralImages(t *testing.T) {
	a, b := testImage(t, 1), testImage(t, 1)
	archive := filepath.Join(t.TempDir(), "two.tar")
	dockerArchive(t, archive, map[string]v1.Image{"example.com/a:v1": a, "example.com/b:v2": b})

	_, _, err := resolveLocal(t, "docker-archive:"+archive)
	wantErr(t, err, errdefs.KindInvalidArgument, "archive holds 2 images", "example.com/a:v1", "example.com/b:v2")

	src, r, err := resolveLocal(t, "docker-archive:"+archive+":v2")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "example.com/b:v2" {
		t.Errorf("name = %q", r.Name)
	}
	_, cd, _ := imageDigests(t, b)
	if r.ConfigDigest != cd {
		t.Errorf("picked config %s, want %s", r.ConfigDigest, cd)
	}
	checkBlob(t, src, r.Layers[0])
}

// handArchive writes a docker archive from its parts.
type handArchive struct {
	manifest any
	files    map[string][]byte
}

func (h handArchive) write(t *testing.T, p string) {
	t.Helper()
	entries := []tarEntry{reg("manifest.json", mustJSON(t, h.manifest))}
	for n, b := range h.files {
		entries = append(entries, reg(n, b))
	}
	writeTar(t, p, entries...)
}

func TestDockerArchiveUncompressedAndZstd(t *testing.T) {
	plain := layerTar(t, "etc/hello", "hello")
	zst := append([]byte{0x28, 0xb5, 0x2f, 0xfd}, []byte("not really zstd")...)
	gz := gzipBytes(t, layerTar(t, "etc/gz", "gz"))
	diffs := []digest.Digest{digest.FromBytes(plain), digest.FromString("zstd diff"), digest.FromString("gz diff")}
	cfg := configFor(t, "linux", runtime.GOARCH, diffs...)
	p := filepath.Join(t.TempDir(), "Hand Made.tar")
	handArchive{
		manifest: []map[string]any{{"Config": "./cfg.json", "Layers": []string{"l/plain.tar", "l/z.tar.zst", "./l/../l/gz.tar.gz"}}},
		files:    map[string][]byte{"cfg.json": cfg, "l/plain.tar": plain, "l/z.tar.zst": zst, "l/gz.tar.gz": gz},
	}.write(t, p)

	src, r, err := resolveLocal(t, "docker-archive:"+p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "localhost/hand-made:latest" {
		t.Errorf("name = %q, want the file-derived name", r.Name)
	}
	want := []Layer{
		{Digest: diffs[0], Size: int64(len(plain)), MediaType: types.DockerUncompressedLayer, DiffID: diffs[0]},
		{Digest: digest.FromBytes(zst), Size: int64(len(zst)), MediaType: "application/vnd.docker.image.rootfs.diff.tar.zstd", DiffID: diffs[1]},
		{Digest: digest.FromBytes(gz), Size: int64(len(gz)), MediaType: types.DockerLayer, DiffID: diffs[2]},
	}
	if fmt.Sprint(r.Layers) != fmt.Sprint(want) {
		t.Errorf("layers =\n%+v\nwant\n%+v", r.Layers, want)
	}
	for _, l := range r.Layers {
		checkBlob(t, src, l)
	}
	if !bytes.Equal(r.Config, cfg) || r.ConfigDigest != digest.FromBytes(cfg) {
		t.Errorf("config not served as stored")
	}
	// The config is also a blob of the source.
	rc, err := src.OpenBlob(context.Background(), r.ConfigDigest, int64(len(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, cfg) {
		t.Errorf("config blob = %q", b)
	}
}

func TestDockerArchiveErrors(t *testing.T) {
	plain := layerTar(t, "f", "x")
	cfg := configFor(t, "linux", runtime.GOARCH, digest.FromBytes(plain))
	entry := func(mut func(e map[string]any)) []map[string]any {
		e := map[string]any{"Config": "cfg.json", "RepoTags": []string{"example.com/x:v1"}, "Layers": []string{"l.tar"}}
		if mut != nil {
			mut(e)
		}
		return []map[string]any{e}
	}
	files := map[string][]byte{"cfg.json": cfg, "l.tar": plain}
	tests := []struct {
		name string
		arch handArchive
		raw  []tarEntry // instead of arch
		kind errdefs.Kind
		want string
	}{
		{name: "no manifest.json", raw: []tarEntry{reg("cfg.json", cfg)}, want: "not a docker archive"},
		{name: "manifest.json not JSON", raw: []tarEntry{reg("manifest.json", []byte("{"))}, want: "parse manifest.json"},
		{name: "manifest.json an object", raw: []tarEntry{reg("manifest.json", []byte("{}"))}, want: "parse manifest.json"},
		{name: "no images", arch: handArchive{manifest: []any{}, files: files}, kind: errdefs.KindInvalidArgument, want: "archive holds 0 images"},
		{name: "config missing", arch: handArchive{manifest: entry(func(e map[string]any) { e["Config"] = "nope.json" }), files: files}, want: "read config nope.json"},
		{name: "config escapes", arch: handArchive{manifest: entry(func(e map[string]any) { e["Config"] = "../../../../etc/passwd" }), files: files}, want: "read config"},
		{name: "config is a layer", arch: handArchive{manifest: entry(func(e map[string]any) { e["Config"] = "l.tar" }), files: files}, want: "parse config"},
		{name: "layer missing", arch: handArchive{manifest: entry(func(e map[string]any) { e["Layers"] = []string{"missing.tar"} }), files: files}, want: "layer missing.tar"},
		{name: "more layers than diff_ids", arch: handArchive{manifest: entry(func(e map[string]any) { e["Layers"] = []string{"l.tar", "l.tar"} }), files: files}, want: "config lists 1 diff_ids for 2 layers"},
		{
			name: "too many layers",
			arch: handArchive{manifest: entry(func(e map[string]any) {
				ls := make([]string, MaxLayers+1)
				for i := range ls {
					ls[i] = "l.tar"
				}
				e["Layers"] = ls
			}), files: files},
			kind: errdefs.KindTooLarge, want: "1001 layers",
		},
		{
			name: "config for another platform",
			arch: handArchive{manifest: entry(nil), files: map[string][]byte{"cfg.json": configFor(t, "linux", otherArch(), digest.FromBytes(plain)), "l.tar": plain}},
			kind: errdefs.KindInvalidArgument, want: "image is for linux/" + otherArch(),
		},
		{
			name: "config over its limit",
			arch: handArchive{manifest: entry(nil), files: map[string][]byte{"cfg.json": bytes.Repeat([]byte(" "), MaxConfigSize+1), "l.tar": plain}},
			kind: errdefs.KindTooLarge, want: "read config cfg.json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.tar")
			if tc.raw != nil {
				writeTar(t, p, tc.raw...)
			} else {
				tc.arch.write(t, p)
			}
			_, r, err := resolveLocal(t, "docker-archive:"+p)
			if r != nil {
				t.Errorf("resolved %+v", r)
			}
			wantErr(t, err, tc.kind, tc.want, p)
		})
	}
}

// TestDockerArchiveManifestJSONShape checks the JSON field names of
// manifest.json as docker writes them.
func TestDockerArchiveManifestJSONShape(t *testing.T) {
	var es []dockerArchiveEntry
	if err := json.Unmarshal([]byte(`[{"Config":"c","RepoTags":["a:b"],"Layers":["l"]}]`), &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Config != "c" || es[0].RepoTags[0] != "a:b" || es[0].Layers[0] != "l" {
		t.Errorf("parsed %+v", es)
	}
}
