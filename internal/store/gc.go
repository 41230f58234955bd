package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/rootfs"
)

// GCOptions say what image gc keeps.
type GCOptions struct {
	// GracePeriod keeps images used more recently than this.
	GracePeriod time.Duration
	// InUseImages and InUseLayers are kept whatever their age (pods that
	// use them).
	InUseImages map[digest.Digest]bool
	InUseLayers map[digest.Digest]bool
	// Now is the time to measure the grace period from (zero: time.Now()).
	Now time.Time
}

// GCResult says what image gc removed.
type GCResult struct {
	Images []*Image
	Blobs  int
	Layers int
	Freed  int64
}

// GC removes images unused for longer than the grace period, then every
// blob and rendered layer that no remaining image uses, and leftovers of
// interrupted fetches. It needs the exclusive lock.
func (s *Store) GC(opts GCOptions) (*GCResult, error) {
	if s.mode != Exclusive {
		return nil, errors.New("image gc: the store is not locked exclusively")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	res := &GCResult{}
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	var kept []*Image
	for _, img := range imgs {
		last := img.LastUsed
		if img.ImportTime.After(last) {
			last = img.ImportTime
		}
		if opts.InUseImages[img.ID] || now.Sub(last) < opts.GracePeriod {
			kept = append(kept, img)
			continue
		}
		if err := os.Remove(s.path(recordRel(img.ID)...)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("image gc: remove image %s: %w", FormatID(img.ID), err)
		}
		s.debugf("image gc: removed image %s", FormatID(img.ID))
		res.Images = append(res.Images, img)
	}
	if err := s.removeRefsTo(nil); err != nil {
		return nil, err
	}
	blobs := map[digest.Digest]bool{}
	layers := map[digest.Digest]bool{}
	for d := range opts.InUseLayers {
		layers[d] = true
	}
	for _, img := range kept {
		for _, d := range img.Blobs() {
			blobs[d] = true
		}
		for _, l := range img.Layers {
			layers[l.DiffID] = true
		}
	}
	if err := s.sweepBlobs(blobs, res); err != nil {
		return nil, err
	}
	if err := s.sweepLayers(layers, res); err != nil {
		return nil, err
	}
	// Nobody else holds the store lock: whatever is in tmp/ and locks/ is
	// left from interrupted commands.
	for _, d := range []string{"tmp", "locks"} {
		entries, err := os.ReadDir(s.path(d))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if err := rootfs.RemoveAll(s.path(d, e.Name())); err != nil {
				return nil, fmt.Errorf("image gc: remove %s/%s: %w", d, e.Name(), err)
			}
		}
	}
	return res, nil
}

func (s *Store) sweepBlobs(keep map[digest.Digest]bool, res *GCResult) error {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		entries, err := os.ReadDir(s.path("blobs", alg.String()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if keep[d] {
				continue
			}
			if info, err := e.Info(); err == nil {
				res.Freed += info.Size()
			}
			if err := os.Remove(s.path("blobs", alg.String(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("image gc: remove blob %s: %w", d, err)
			}
			res.Blobs++
		}
	}
	return nil
}

func (s *Store) sweepLayers(keep map[digest.Digest]bool, res *GCResult) error {
	entries, err := os.ReadDir(s.path("layers"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		alg, hex, ok := strings.Cut(e.Name(), "-")
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if ok && d.Validate() == nil && keep[d] {
			continue
		}
		if li, err := s.Layer(d); err == nil {
			res.Freed += li.Size
		}
		if err := s.removeLayerDir(s.path("layers", e.Name())); err != nil {
			return fmt.Errorf("image gc: remove layer %s: %w", e.Name(), err)
		}
		s.debugf("image gc: removed layer %s", e.Name())
		res.Layers++
	}
	return nil
}
