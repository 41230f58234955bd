package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/rkt/rkt/internal/testutil"
)

// TestFetchHostileLayers pushes each of testutil's hostile layers as an
// image and fetches it. Each is either refused (exit 254, one error line,
// the store exactly as before) or confined (exit 0, nothing outside the
// rootfs touched); WantError says it must be refused. In every case the
// host's escape directory must be untouched, after the fetch and after a
// render.
func TestFetchHostileLayers(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	escape := t.TempDir()
	// The gzip bomb is skipped below; a small one keeps HostileLayers from
	// hashing a GiB for nothing.
	hostile := testutil.HostileLayers(t, testutil.HostileOptions{EscapeDir: escape, BombSize: 1 << 20})
	for _, h := range hostile {
		t.Run(h.Name, func(t *testing.T) {
			if h.Name == "gzip-bomb" {
				// rkt's default limits (internal/rootfs) are 64 GiB and a
				// ratio of 1024:1 beyond 512 MiB. Deflate cannot compress
				// better than about 1032:1, and testutil's bomb measures
				// 1011:1, so only the 64 GiB limit could stop it: a 1.2 GiB
				// bomb is accepted (checked by hand: exit 0 in 1.5 s), and a
				// 64 GiB one means writing 64 GiB. TestFetchZstdBomb checks
				// the ratio limit end to end instead.
				t.Skip("a gzip bomb beyond rkt's limits is not practical: deflate tops out near 1032:1 (testutil's bomb: 1011:1), under the 1024:1 ratio limit, so only the 64 GiB size limit applies; see TestFetchZstdBomb")
			}
			t.Parallel()
			e := newEnv(t)
			ref := reg.Ref("hostile/"+h.Name, "latest")
			img := h.Image(t)
			reg.Push(t, ref, img)
			checkHost := func(when string) {
				t.Helper()
				if h.CheckHost == nil {
					return
				}
				if err := h.CheckHost(); err != nil {
					t.Errorf("%s: %v", when, err)
				}
			}

			initStore(t, e)
			before := storeSnapshot(t, e.dir)
			r := fetch(t, e, "docker://"+ref)
			checkHost("after fetch")
			// WantError: the layer must be refused. Otherwise rkt may
			// refuse it too, or confine it.
			if h.WantError || r.code != 0 {
				mentions(t, "error", r.errorLine(t, "fetch: "), "layer")
				sameStore(t, e, before)
				return
			}
			t.Logf("confined: %s", h.Description)
			id := r.ok(t).singleID(t)
			if h.CheckRootfs != nil {
				for _, d := range diffIDs(t, img) {
					dir := filepath.Join(e.store(), "layers", "sha256-"+d.Hex, "rootfs")
					if err := h.CheckRootfs(dir); err != nil {
						t.Errorf("stored layer %s: %v", dir, err)
					}
				}
			}
			out := filepath.Join(t.TempDir(), "rendered")
			rr := rkt(t, e, "image", "render", "--rootfs-only", id, out)
			checkHost("after render")
			if rr.code == 0 && h.CheckRootfs != nil {
				if err := h.CheckRootfs(out); err != nil {
					t.Errorf("rendered image: %v", err)
				}
			}
			if rr.code != 0 {
				// A render may refuse what the fetch confined, but then
				// as rule 11 says.
				rr.errorLine(t, "image render: ")
			}
			rkt(t, e, "image", "verify", id).ok(t)
			checkHost("after verify")
		})
	}
}

// TestFetchZstdBomb fetches a zstd layer of a 600 MiB file of zeros that is
// a few KiB compressed: rkt must stop it at its compression ratio limit
// (1024:1 beyond 512 MiB) and leave the store as before.
func TestFetchZstdBomb(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bomb := newZstdBomb(t, 600<<20)
	img := testutil.Image(t, v1.Config{Cmd: []string{"/bin/true"}}, bomb)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	ref := evil.Seed(t, "bomb/zstd", "latest", img)

	initStore(t, e)
	before := storeSnapshot(t, e.dir)
	r := fetch(t, e, "docker://"+ref)
	mentions(t, "error", r.errorLine(t, "fetch: "), "compression ratio")
	sameStore(t, e, before)
}

// zstdBomb is a zstd layer held compressed in memory, with its digests
// computed once while it was built.
type zstdBomb struct {
	compressed     []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*zstdBomb)(nil)

// newZstdBomb builds a zstd-compressed tar holding one file of size zeros,
// streaming it so that the uncompressed tar is never in memory.
func newZstdBomb(t *testing.T, size int64) *zstdBomb {
	t.Helper()
	var comp bytes.Buffer
	enc, err := zstd.NewWriter(&comp, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(enc, diff))
	if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: testutil.DefaultModTime}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(zeros)) {
		if _, err := tw.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	b := &zstdBomb{compressed: comp.Bytes()}
	b.digest = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b.compressed))}
	b.diffID = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", diff.Sum(nil))}
	t.Logf("zstd bomb: %d bytes of zeros in %d compressed bytes", size, len(b.compressed))
	return b
}

func (b *zstdBomb) Digest() (v1.Hash, error) { return b.digest, nil }
func (b *zstdBomb) DiffID() (v1.Hash, error) { return b.diffID, nil }
func (b *zstdBomb) Size() (int64, error)     { return int64(len(b.compressed)), nil }
func (b *zstdBomb) MediaType() (types.MediaType, error) {
	return types.OCILayerZStd, nil
}

func (b *zstdBomb) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.compressed)), nil
}

func (b *zstdBomb) Uncompressed() (io.ReadCloser, error) {
	d, err := zstd.NewReader(bytes.NewReader(b.compressed))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}
