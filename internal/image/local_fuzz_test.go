package image

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

// FuzzDockerArchiveManifest puts arbitrary bytes as manifest.json in a
// docker archive that also holds a valid config and layers, and checks what
// Resolve accepts.
func FuzzDockerArchiveManifest(f *testing.F) {
	plain := layerTar(f, "etc/plain", "plain")
	gz := gzipBytes(f, layerTar(f, "etc/gz", "gz"))
	cfg1 := configFor(f, "linux", runtime.GOARCH, digest.FromBytes(plain))
	cfg2 := configFor(f, "linux", runtime.GOARCH, digest.FromBytes(plain), digest.FromString("gz diff"))
	members := []tarEntry{
		reg("c1.json", cfg1), reg("c2.json", cfg2),
		reg("plain.tar", plain), reg("gz.tar.gz", gz),
		reg("sub/dir/empty.tar", nil),
	}
	for _, s := range []struct{ manifest, ref string }{
		{`[{"Config":"c1.json","RepoTags":["example.com/a:v1"],"Layers":["plain.tar"]}]`, ""},
		{`[{"Config":"c2.json","RepoTags":["a:v1","b:v2"],"Layers":["plain.tar","gz.tar.gz"]}]`, "v2"},
		{`[{"Config":"c1.json","Layers":["plain.tar"]},{"Config":"c2.json","RepoTags":["x:y"],"Layers":["./plain.tar","gz.tar.gz"]}]`, "x:y"},
		{`[{"Config":"c1.json","RepoTags":["example.com/a/../b:v1"],"Layers":["plain.tar"]}]`, ""},
		{`[{"Config":"c1.json","RepoTags":["Bad Tag"],"Layers":["plain.tar"]}]`, ""},
		{`[{"Config":"../c1.json","Layers":["/plain.tar"]}]`, ""},
		{`[{"Config":"c1.json","Layers":["sub/dir/empty.tar"]}]`, ""},
		{`[{"Config":"c2.json","Layers":["gz.tar.gz","gz.tar.gz"]}]`, ""},
		{`[{"Config":"plain.tar","Layers":[]}]`, ""},
		{`[null]`, ""}, {`[]`, ""}, {`{}`, ""}, {`null`, ""}, {``, "v1"},
	} {
		f.Add([]byte(s.manifest), s.ref)
	}
	dir := f.TempDir()
	archive := filepath.Join(dir, "fuzz.tar")
	f.Fuzz(func(t *testing.T, manifest []byte, tag string) {
		writeTar(t, archive, append([]tarEntry{reg("manifest.json", manifest)}, members...)...)
		ref := &Reference{Transport: DockerArchive, Input: "docker-archive:" + archive, Path: archive, Ref: tag}
		src, err := NewLocal(ref)
		if err != nil {
			t.Fatalf("NewLocal: %v", err)
		}
		defer src.Close()
		r, err := src.Resolve(context.Background())
		if err != nil {
			if r != nil {
				t.Fatalf("resolved returned with error %v", err)
			}
			return
		}
		// The store name is a valid, fully qualified image name.
		n, err := name.ParseReference(r.Name, name.StrictValidation)
		if err != nil {
			t.Fatalf("store name %q is not a valid name: %v", r.Name, err)
		}
		if !wantRepoPathRE.MatchString(n.Context().RepositoryStr()) {
			t.Fatalf("store name %q has an invalid repository path", r.Name)
		}
		if r.Digest != digest.FromBytes(r.Manifest) || digest.FromBytes(r.Config) != r.ConfigDigest {
			t.Fatalf("digests do not match content: %s %s", r.Digest, r.ConfigDigest)
		}
		if r.ConfigFile == nil || len(r.ConfigFile.RootFS.DiffIDs) != len(r.Layers) {
			t.Fatalf("config for %d layers", len(r.Layers))
		}
		checkLayers(t, r.Layers)
		for _, l := range r.Layers {
			rc, err := src.OpenBlob(context.Background(), l.Digest, l.Size)
			if err != nil {
				t.Fatalf("OpenBlob %s: %v", l.Digest, err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n != l.Size {
				t.Fatalf("blob %s: read %d of %d bytes: %v", l.Digest, n, l.Size, err)
			}
		}
	})
	_ = os.Remove(archive)
}
