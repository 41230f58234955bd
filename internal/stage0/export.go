//go:build !rktfront

package stage0

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// ExportFormat is the kind of image Export writes.
type ExportFormat int

const (
	// ExportOCI is an OCI image archive (what oci-archive: reads).
	ExportOCI ExportFormat = iota
	// ExportACI is an appc ACI (gzip): the manifest and the whole root
	// filesystem under rootfs/.
	ExportACI
)

// exportedApp is an exited app of a pod, as Export finds it.
type exportedApp struct {
	img     *store.Image
	overlay bool     // the rootfs was an overlay: trees[0] is its upper dir
	trees   []string // the app's root filesystem, top first
}

// findExportedApp finds app's image and the trees its root filesystem was
// made of.
func findExportedApp(s *store.Store, p *pod.Pod, app string) (*exportedApp, error) {
	if !p.State.AfterRun() {
		return nil, errdefs.InvalidArgument(fmt.Errorf("pod %s is %s: only an exited pod's app can be exported", p.UUID, p.State))
	}
	info := filepath.Join(p.Dir, abi.AppsInfo, app)
	raw, err := os.ReadFile(filepath.Join(info, abi.AppImageID))
	if err != nil {
		return nil, errdefs.NotFound(fmt.Errorf("pod %s has no app %q", p.UUID, app))
	}
	img, err := s.LookupID(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("app %s: image: %w", app, err)
	}
	if _, err := os.Stat(filepath.Join(info, abi.AppNoOverlay)); err == nil {
		return &exportedApp{img: img, trees: []string{filepath.Join(p.Dir, abi.Stage2, app, "rootfs")}}, nil
	}
	layers, err := AppLayers(p.Dir, app)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", app, err)
	}
	trees := []string{filepath.Join(p.Dir, abi.Overlay, app, "upper")}
	for i := len(layers) - 1; i >= 0; i-- {
		trees = append(trees, layers[i])
	}
	return &exportedApp{img: img, overlay: true, trees: trees}, nil
}

// Export writes an exited app's root filesystem, with the changes the app
// made, as a new image. An OCI image archive holds the app image's layers
// plus one layer of the changes (the overlay's upper directory, whiteouts
// included), or, for an app that ran on a copied rootfs, one layer of the
// whole tree; an ACI holds the app image's manifest (without dependencies
// or path whitelist: its rootfs is whole) and the merged root filesystem.
// tmpDir holds a layer while it is built.
func Export(ctx context.Context, s *store.Store, p *pod.Pod, app, refName, tmpDir string, format ExportFormat, w io.Writer) error {
	ea, err := findExportedApp(s, p, app)
	if err != nil {
		return err
	}
	if format == ExportACI {
		return exportACI(ctx, s, p, app, ea, w)
	}
	img := ea.img
	if img.Config == "" {
		return errdefs.InvalidArgument(fmt.Errorf("app %s runs an ACI: export it as an ACI (an output file named *.aci)", app))
	}
	cf, err := readConfig(s, img)
	if err != nil {
		return err
	}
	layer, err := buildLayer(ea.trees[0], ea.overlay, tmpDir)
	if err != nil {
		return fmt.Errorf("app %s: %w", app, err)
	}
	defer os.Remove(layer.path)
	var layers []ocispec.Descriptor
	if ea.overlay {
		for _, l := range img.Layers {
			layers = append(layers, ocispec.Descriptor{MediaType: ociLayerType(l.MediaType), Digest: l.Digest, Size: l.Size})
		}
	} else {
		cf.RootFS.DiffIDs = nil
	}
	layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layer.digest, Size: layer.size})
	h, err := v1.NewHash(layer.diffID.String())
	if err != nil {
		return err
	}
	cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
	now := time.Now().UTC()
	cf.Created = v1.Time{Time: now}
	cf.History = append(cf.History, v1.History{Created: v1.Time{Time: now}, CreatedBy: "rkt export " + p.UUID + " --app=" + app})
	cfg, err := json.Marshal(cf)
	if err != nil {
		return err
	}
	man, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    layers,
	})
	if err != nil {
		return err
	}
	return writeArchive(s, w, man, cfg, layers, layer, refName)
}

// exportACI writes ea as a gzip ACI: its image's appc manifest, then the
// app's root filesystem merged under rootfs/.
func exportACI(ctx context.Context, s *store.Store, p *pod.Pod, app string, ea *exportedApp, w io.Writer) error {
	m, err := imageManifest(s, ea.img)
	if err != nil {
		return fmt.Errorf("app %s: %w", app, err)
	}
	m.Dependencies, m.PathWhitelist = nil, nil
	m.Annotations.Set("created", time.Now().UTC().Format(time.RFC3339))
	m.Annotations.Set("rkt.dev/exported-from", p.UUID+"/"+app)
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(raw)), ModTime: time.Now().UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(raw); err != nil {
		return err
	}
	// The root filesystem follows in the same archive: tar is a sequence
	// of entries, and WriteMerged ends it.
	if err := tw.Flush(); err != nil {
		return err
	}
	layers := make([]rootfs.MergedLayer, len(ea.trees))
	for i, t := range ea.trees {
		layers[i] = rootfs.MergedLayer{Dir: t}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := rootfs.WriteMerged(zw, layers, rootfs.MergeOptions{Prefix: "rootfs"}); err != nil {
		return fmt.Errorf("app %s: %w", app, err)
	}
	return zw.Close()
}

// ociLayerType maps a stored layer's media type to its OCI name.
func ociLayerType(mt string) string {
	switch mt {
	case "application/vnd.docker.image.rootfs.diff.tar.gzip":
		return ocispec.MediaTypeImageLayerGzip
	case "application/vnd.docker.image.rootfs.diff.tar":
		return ocispec.MediaTypeImageLayer
	case "application/vnd.docker.image.rootfs.diff.tar.zstd":
		return ocispec.MediaTypeImageLayerZstd
	}
	return mt
}

type builtLayer struct {
	path   string
	digest digest.Digest
	diffID digest.Digest
	size   int64
}

// buildLayer writes tree as a gzip tar layer into a temporary file,
// hashing the compressed and the uncompressed stream on the way.
func buildLayer(tree string, overlay bool, tmpDir string) (*builtLayer, error) {
	f, err := os.CreateTemp(tmpDir, ".rkt-export-layer-*")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(f.Name())
		}
	}()
	compressed := digest.SHA256.Digester()
	counter := &countWriter{}
	zw := gzip.NewWriter(io.MultiWriter(f, compressed.Hash(), counter))
	plain := digest.SHA256.Digester()
	if err := rootfs.WriteDiff(tree, io.MultiWriter(zw, plain.Hash()), overlay, nil); err != nil {
		return nil, fmt.Errorf("write layer of %s: %w", tree, err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	ok = true
	return &builtLayer{path: f.Name(), digest: compressed.Digest(), diffID: plain.Digest(), size: counter.n}, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// writeArchive writes an OCI layout as a tar: oci-layout, index.json and
// the blobs (stored ones copied from the store, checked on the way).
func writeArchive(s *store.Store, w io.Writer, man, cfg []byte, layers []ocispec.Descriptor, built *builtLayer, refName string) error {
	tw := tar.NewWriter(w)
	mtime := time.Now().UTC().Truncate(time.Second)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addBytes := func(name string, b []byte) error { return add(name, int64(len(b)), strings.NewReader(string(b))) }
	blobName := func(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man)),
		Annotations: map[string]string{ocispec.AnnotationRefName: refName}}
	index, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{mdesc}})
	if err != nil {
		return err
	}
	if err := addBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := addBytes("index.json", index); err != nil {
		return err
	}
	if err := addBytes(blobName(mdesc.Digest), man); err != nil {
		return err
	}
	if err := addBytes(blobName(digest.FromBytes(cfg)), cfg); err != nil {
		return err
	}
	for _, l := range layers[:len(layers)-1] {
		if err := tw.WriteHeader(&tar.Header{Name: blobName(l.Digest), Mode: 0o644, Size: l.Size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if err := s.CopyBlob(l.Digest, tw); err != nil {
			return err
		}
	}
	lf, err := os.Open(built.path)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := add(blobName(built.digest), built.size, lf); err != nil {
		return err
	}
	return tw.Close()
}
