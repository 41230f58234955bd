package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/rootfs"
)

// LayerInfo is written beside a rendered layer's rootfs.
type LayerInfo struct {
	DiffID digest.Digest `json:"diffID"`
	// Blob is the blob it was rendered from.
	Blob digest.Digest `json:"blob"`
	// TreeHash is the content hash of rootfs/ as rendered.
	TreeHash string `json:"treeHash"`
	// Size is the uncompressed size of the layer.
	Size    int64 `json:"size"`
	Entries int   `json:"entries"`
}

// RenderOptions tune layer rendering.
type RenderOptions struct {
	Limits rootfs.Limits
	// Progress, if not nil, receives the running count of blob bytes
	// read while unpacking.
	Progress func(int64)
}

func layerRel(diffID digest.Digest) []string {
	return []string{"layers", FormatID(diffID)}
}

// LayerDir is the directory of a rendered layer: rootfs/ and info.json.
// Overlay mounts use LayerDir(...)/rootfs as a lowerdir.
func (s *Store) LayerDir(diffID digest.Digest) (string, error) {
	if err := checkDigest(diffID); err != nil {
		return "", err
	}
	return s.path(layerRel(diffID)...), nil
}

// Layer reads a rendered layer's info.
func (s *Store) Layer(diffID digest.Digest) (*LayerInfo, error) {
	dir, err := s.LayerDir(diffID)
	if err != nil {
		return nil, err
	}
	data, err := readSmall(filepath.Join(dir, "info.json"), maxRecordSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("layer %s is not rendered", FormatID(diffID)))
	}
	if err != nil {
		return nil, err
	}
	var li LayerInfo
	if err := json.Unmarshal(data, &li); err != nil {
		return nil, fmt.Errorf("layer %s: info: %w", FormatID(diffID), err)
	}
	return &li, nil
}

// HasLayer reports whether the layer is rendered.
func (s *Store) HasLayer(diffID digest.Digest) bool {
	_, err := s.Layer(diffID)
	return err == nil
}

// RenderLayer unpacks the stored blob of layer l into its own directory,
// unless it is already rendered. It renders into tmp/ and renames the
// finished tree into place, so a failed or killed render leaves nothing a
// later run would use. The uncompressed stream must hash to l.DiffID.
func (s *Store) RenderLayer(ctx context.Context, l LayerRecord, opts RenderOptions) (bool, error) {
	if err := checkDigest(l.DiffID); err != nil {
		return false, err
	}
	if s.HasLayer(l.DiffID) {
		return false, nil
	}
	unlock, err := s.lockFile("layer-" + FormatID(l.DiffID))
	if err != nil {
		return false, err
	}
	defer unlock()
	if s.HasLayer(l.DiffID) {
		return false, nil
	}
	if err := s.renderLayer(ctx, l, opts); err != nil {
		return false, fmt.Errorf("render layer %s: %w", FormatID(l.DiffID), err)
	}
	return true, nil
}

func (s *Store) renderLayer(ctx context.Context, l LayerRecord, opts RenderOptions) error {
	blob, err := s.OpenBlob(l.Digest)
	if err != nil {
		return err
	}
	defer blob.Close()
	// Each rendered tree in a block group of its own (a hint; see
	// rootfs.SpreadNewTrees): image gc frees whole trees.
	_ = rootfs.SpreadNewTrees(s.path("tmp"))
	tmp, err := os.MkdirTemp(s.path("tmp"), "layer-*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			if err := rootfs.RemoveAll(tmp); err != nil {
				s.debugf("remove %s: %v", tmp, err)
			}
		}
	}()
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil { //nolint:gosec // G301: the rootfs of a layer; layers/ itself is 0700
		return err
	}
	var r io.Reader = blob
	if opts.Progress != nil {
		r = io.TeeReader(blob, &progressWriter{fn: opts.Progress})
	}
	res, err := rootfs.Apply(ctx, root, r, l.Size, rootfs.Options{
		Whiteouts: rootfs.WhiteoutOverlay,
		Limits:    opts.Limits,
		Chown:     os.Geteuid() == 0,
		Debugf:    s.Debugf,
	})
	if err != nil {
		return err
	}
	if res.DiffID != l.DiffID {
		return errdefs.DigestMismatch(fmt.Errorf("uncompressed content digest is %s, the image config says %s", res.DiffID, l.DiffID))
	}
	info, err := json.Marshal(LayerInfo{DiffID: l.DiffID, Blob: l.Digest, TreeHash: res.TreeHash, Size: res.Size, Entries: res.Entries})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "info.json"), info, 0o600); err != nil {
		return err
	}
	dst := s.path(layerRel(l.DiffID)...)
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	committed = true
	return nil
}

// removeLayerDir moves a rendered layer out of the way first (so it stops
// being visible at once) and then deletes it without crossing mounts.
func (s *Store) removeLayerDir(dir string) error {
	tmp, err := os.MkdirTemp(s.path("tmp"), "rm-*")
	if err != nil {
		return err
	}
	dst := filepath.Join(tmp, "layer")
	if err := os.Rename(dir, dst); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return rootfs.RemoveAll(tmp)
}

// VerifyLayer recomputes a rendered layer's tree hash. A layer that does
// not match is removed and rendered again from its blob.
func (s *Store) VerifyLayer(ctx context.Context, l LayerRecord, opts RenderOptions) (repaired bool, err error) {
	li, err := s.Layer(l.DiffID)
	if errdefs.Is(err, errdefs.KindNotFound) {
		_, err := s.RenderLayer(ctx, l, opts)
		return err == nil, err
	}
	if err != nil {
		return false, err
	}
	dir, _ := s.LayerDir(l.DiffID)
	got, err := rootfs.TreeHash(filepath.Join(dir, "rootfs"))
	if err != nil {
		return false, fmt.Errorf("verify layer %s: %w", FormatID(l.DiffID), err)
	}
	if got == li.TreeHash {
		return false, nil
	}
	s.debugf("layer %s: tree hash %s, want %s: rendering again", FormatID(l.DiffID), got, li.TreeHash)
	if err := s.removeLayerDir(dir); err != nil {
		return false, fmt.Errorf("verify layer %s: remove: %w", FormatID(l.DiffID), err)
	}
	if _, err := s.RenderLayer(ctx, l, opts); err != nil {
		return false, err
	}
	return true, nil
}
