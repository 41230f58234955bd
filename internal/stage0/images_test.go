package stage0

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/fetch"
	"github.com/rkt/rkt/internal/image"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/testutil"
)

// TestStoredImages: the front's Images give a stored, rendered image by ID
// or exact name, and ErrNotStored wherever the fetcher would fetch, verify
// or render.
func TestStoredImages(t *testing.T) {
	s, err := store.Open(t.TempDir(), store.Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := testutil.Image(t, v1.Config{Cmd: []string{"/bin/true"}}, testutil.Layer(t, []testutil.TarEntry{testutil.File("etc/hostname", 0o644, "x\n")}, "gzip"))
	dir := filepath.Join(t.TempDir(), "layout")
	testutil.WriteOCILayout(t, dir, img, "latest")
	f := &fetch.Fetcher{Store: s, PullPolicy: store.PullNew, Insecure: fetch.Insecure{Image: true}}
	stored, _, err := f.FetchImage(context.Background(), "oci:"+dir+":latest", "")
	if err != nil {
		t.Fatal(err)
	}
	id := store.FormatID(stored.ID)
	si := &StoredImages{Store: s}
	for _, in := range []string{id, id[:len("sha256-")+12], strings.Replace(id, "-", ":", 1), stored.Name} {
		got, tree, err := si.FetchImage(context.Background(), in, "")
		if err != nil || got.ID != stored.ID || tree != nil {
			t.Errorf("FetchImage(%q) = %v, %v, %v; want the stored image", in, got, tree, err)
		}
	}
	notStored := []struct {
		name, input, signature string
		si                     *StoredImages
	}{
		{"a transport", "oci:" + dir + ":latest", "", si},
		{"an unknown ID", "sha256-0123456789ab", "", si},
		{"an unknown name", "example.com/nothing:1", "", si},
		{"a name the fetcher normalizes", "busybox", "", si},
		{"--signature", id, "app.asc", si},
		{"--pull-policy=update", id, "", &StoredImages{Store: s, Update: true}},
	}
	for _, tc := range notStored {
		if _, _, err := tc.si.FetchImage(context.Background(), tc.input, tc.signature); !errors.Is(err, ErrNotStored) {
			t.Errorf("%s: FetchImage(%q) error = %v, want ErrNotStored", tc.name, tc.input, err)
		}
	}
	// A layer gc removed is the fetcher's to render again.
	ldir, err := s.LayerDir(stored.Layers[0].DiffID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(ldir)); err != nil {
		t.Fatal(err)
	}
	if s.HasLayer(stored.Layers[0].DiffID) {
		t.Fatalf("removing %s did not unrender the layer", filepath.Dir(ldir))
	}
	if _, _, err := si.FetchImage(context.Background(), id, ""); !errors.Is(err, ErrNotStored) {
		t.Errorf("an image with an unrendered layer: error = %v, want ErrNotStored", err)
	}
	if _, err := si.ImportStage1(context.Background(), filepath.Join(dir, "index.json")); !errors.Is(err, ErrNotStored) {
		t.Errorf("ImportStage1 of a file never imported: error = %v, want ErrNotStored", err)
	}
}

// FuzzStoredName: what the front takes for a stored name, the fetcher's
// parser reads as that stored name.
func FuzzStoredName(f *testing.F) {
	for _, s := range []string{"localhost/busybox:latest", "docker.io/library/busybox:1", "busybox", "busybox:1", "oci:dir:tag", "oci:5000/x:y",
		"docker://x", "a/b://c", "./x", "/x", "x.aci", "sha256-ab", "file:///x", "https://h/x", "a b", "", "example.com/app:1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !StoredName(s) {
			return
		}
		ref, err := image.ParseReference(s)
		if err != nil {
			t.Fatalf("StoredName(%q), but ParseReference: %v", s, err)
		}
		if ref.Transport != image.Stored || ref.Name != s || ref.ID != "" {
			t.Fatalf("StoredName(%q), but ParseReference reads transport %q name %q ID %q", s, ref.Transport, ref.Name, ref.ID)
		}
	})
}
