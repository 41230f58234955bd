package store

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rkt/rkt/internal/rootfs"
)

// ExportOCIArchive writes image id as an OCI image layout in a tar archive
// (what `oci-archive:` reads), with the image's name as its ref.
func (s *Store) ExportOCIArchive(id digest.Digest, refName string, w io.Writer) error {
	img, err := s.Image(id)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	mtime := img.ImportTime.UTC().Truncate(time.Second)
	addFile := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/" + id.Algorithm().String() + "/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := addFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: img.MediaType, Digest: img.ID, Size: img.ManifestSize}
	if refName != "" {
		desc.Annotations = map[string]string{ocispec.AnnotationRefName: refName}
	}
	index, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	if err != nil {
		return err
	}
	if err := addFile("index.json", index); err != nil {
		return err
	}
	seen := map[digest.Digest]bool{}
	for _, d := range img.Blobs() {
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := s.exportBlob(tw, d, mtime); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (s *Store) exportBlob(tw *tar.Writer, d digest.Digest, mtime time.Time) error {
	f, err := s.OpenBlob(d)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	name := "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	// Hash while copying: a corrupt blob must not leave the store unnoticed.
	dg := d.Algorithm().Digester()
	if _, err := io.CopyBuffer(io.MultiWriter(tw, dg.Hash()), f, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("export blob %s: %w", d, err)
	}
	if dg.Digest() != d {
		return fmt.Errorf("export blob %s: stored blob is corrupt (run rkt image verify)", d)
	}
	return nil
}

// RenderImage applies the image's layers, in order, into dir (which must
// exist), as one tree with whiteouts applied: what `rkt image render`
// gives. Layers are read from the stored blobs.
func (s *Store) RenderImage(ctx context.Context, id digest.Digest, dir string, opts RenderOptions) error {
	img, err := s.Image(id)
	if err != nil {
		return err
	}
	for _, l := range img.Layers {
		if err := s.applyBlob(ctx, l, dir, opts); err != nil {
			return fmt.Errorf("render image %s: layer %s: %w", FormatID(id), l.Digest, err)
		}
	}
	return nil
}

func (s *Store) applyBlob(ctx context.Context, l LayerRecord, dir string, opts RenderOptions) error {
	f, err := s.OpenBlob(l.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := rootfs.Apply(ctx, dir, f, l.Size, rootfs.Options{
		Whiteouts: rootfs.WhiteoutApply,
		Limits:    opts.Limits,
		Chown:     os.Geteuid() == 0,
		Debugf:    s.Debugf,
	})
	if err != nil {
		return err
	}
	if res.DiffID != l.DiffID {
		return fmt.Errorf("uncompressed content digest is %s, want %s", res.DiffID, l.DiffID)
	}
	return nil
}

// CopyBlob writes blob d to w, checking its digest on the way.
func (s *Store) CopyBlob(d digest.Digest, w io.Writer) error {
	f, err := s.OpenBlob(d)
	if err != nil {
		return err
	}
	defer f.Close()
	dg := d.Algorithm().Digester()
	if _, err := io.CopyBuffer(io.MultiWriter(w, dg.Hash()), f, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("copy blob %s: %w", d, err)
	}
	if dg.Digest() != d {
		return fmt.Errorf("copy blob %s: stored blob is corrupt (run rkt image verify)", d)
	}
	return nil
}
