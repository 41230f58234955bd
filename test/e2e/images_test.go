package e2e

import (
	"crypto/rand"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/testutil"
)

// tinyImage returns a small two-layer OCI image whose content (and so
// digest) depends on seed.
func tinyImage(t *testing.T, seed string) v1.Image {
	t.Helper()
	return testutil.Image(t, v1.Config{Cmd: []string{"/bin/hello"}, Env: []string{"SEED=" + seed}},
		testutil.Layer(t, []testutil.TarEntry{
			testutil.Dir("bin/", 0o755),
			testutil.File("bin/hello", 0o755, "#!/bin/sh\necho hello "+seed+"\n"),
		}, testutil.Gzip),
		testutil.Layer(t, []testutil.TarEntry{
			testutil.Dir("etc/", 0o755),
			testutil.File("etc/seed", 0o644, seed+"\n"),
		}, testutil.Gzip),
	)
}

// tinyDockerImage is tinyImage with Docker schema 2 media types.
func tinyDockerImage(t *testing.T, seed string) v1.Image {
	t.Helper()
	return testutil.DockerImage(t, v1.Config{Cmd: []string{"/bin/hello"}, Env: []string{"SEED=" + seed}},
		testutil.Layer(t, []testutil.TarEntry{
			testutil.Dir("bin/", 0o755),
			testutil.File("bin/hello", 0o755, "#!/bin/sh\necho hello "+seed+"\n"),
		}, testutil.Gzip),
	)
}

// randomLayer returns a gzip layer holding one file of n random
// (incompressible) bytes.
func randomLayer(t *testing.T, name string, n int) v1.Layer {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return testutil.Layer(t, []testutil.TarEntry{testutil.File(name, 0o644, string(b))}, testutil.Gzip)
}

// layerDigests returns the blob digests of img's layers.
func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// diffIDs returns the diff IDs of img's layers, lowest first.
func diffIDs(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.RootFS.DiffIDs
}

// countRequests counts the requests in reqs ("GET /v2/...") that are
// method requests whose path contains part.
func countRequests(reqs []string, method, part string) int {
	n := 0
	for _, r := range reqs {
		m, p, _ := strings.Cut(r, " ")
		if m == method && strings.Contains(p, part) {
			n++
		}
	}
	return n
}
