package aci_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/fetch"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/testutil"
)

// storedACI imports an ACI of manifest into a fresh store.
func storedACI(t *testing.T, manifest string) (*store.Store, *store.Image) {
	t.Helper()
	s, err := store.Open(t.TempDir(), store.Shared)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	file := filepath.Join(t.TempDir(), "s1.aci")
	if err := os.WriteFile(file, testutil.ACI(t, manifest, testutil.File("run", 0o755, "#!/bin/sh\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fetch.Fetcher{Store: s, PullPolicy: store.PullNew, Insecure: fetch.Insecure{Image: true}}
	img, err := f.ImportACIFile(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	return s, img
}

// TestReadStoredManifest: the stored manifest comes back byte for byte
// with its annotations; a rendered manifest that is not one, or names an
// annotation twice, is refused, as is an image that is not an ACI.
func TestReadStoredManifest(t *testing.T) {
	manifest := strings.TrimSuffix(testutil.ACIManifest("example.com/stage1", "1", ""), "}") +
		`,"annotations":[{"name":"coreos.com/rkt/stage1/run","value":"/run"},{"name":"coreos.com/rkt/stage1/interface-version","value":"6"}]}`
	s, img := storedACI(t, manifest)
	m, err := aci.ReadStoredManifest(s, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Raw, []byte(manifest)) {
		t.Errorf("raw manifest %q, want the stored file %q", m.Raw, manifest)
	}
	if len(m.Annotations) != 2 || m.Annotations["coreos.com/rkt/stage1/run"] != "/run" || m.Annotations["coreos.com/rkt/stage1/interface-version"] != "6" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if _, err := os.Stat(filepath.Join(m.Tree, "rootfs", "run")); err != nil {
		t.Errorf("tree %s: %v", m.Tree, err)
	}

	for _, tc := range []struct{ name, manifest, want string }{
		{"a pod manifest", `{"acKind":"PodManifest","acVersion":"0.8.11"}`, `acKind "PodManifest"`},
		{"an annotation twice", `{"acKind":"ImageManifest","annotations":[{"name":"a","value":"1"},{"name":"a","value":"2"}]}`, `annotation "a" is given twice`},
		{"not JSON", `{"acKind":`, "unexpected end of JSON input"},
		{"too large", `{"acKind":"ImageManifest","x":"` + strings.Repeat("x", aci.MaxManifestSize) + `"}`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The store is the only writer of rendered trees; a bad one
			// is made here by hand.
			if err := os.WriteFile(filepath.Join(m.Tree, "manifest"), []byte(tc.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := aci.ReadStoredManifest(s, img); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadStoredManifest = %v, want an error with %q", err, tc.want)
			}
		})
	}

	oci := testutil.Image(t, v1.Config{Cmd: []string{"/bin/true"}}, testutil.Layer(t, []testutil.TarEntry{testutil.File("etc/hostname", 0o644, "x\n")}, "gzip"))
	dir := filepath.Join(t.TempDir(), "layout")
	testutil.WriteOCILayout(t, dir, oci, "latest")
	f := &fetch.Fetcher{Store: s, PullPolicy: store.PullNew, Insecure: fetch.Insecure{Image: true}}
	stored, _, err := f.FetchImage(context.Background(), "oci:"+dir+":latest", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aci.ReadStoredManifest(s, stored); err == nil || !strings.Contains(err.Error(), "is not an ACI") {
		t.Errorf("an OCI image: ReadStoredManifest = %v, want a refusal", err)
	}
}
