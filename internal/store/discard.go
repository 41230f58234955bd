package store

import (
	"errors"
	"os"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Discard removes blobs and rendered layers that a failed fetch added, so
// a failed fetch leaves the store as it was. It only does so when it can
// take the store lock exclusively at once (no other rkt process is using
// the store); otherwise the leftovers stay for image gc. It reports whether
// it cleaned up. The store lock is held in its original mode on return.
func (s *Store) Discard(blobs, layers []digest.Digest) (bool, error) {
	if len(blobs) == 0 && len(layers) == 0 {
		return true, nil
	}
	if s.mode == Shared {
		// Converting a flock is not atomic: a failed LOCK_NB conversion
		// drops the shared lock, so take it back whatever happens.
		defer func() { _ = s.flock(Shared) }()
		if err := unix.Flock(int(s.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			if errors.Is(err, unix.EWOULDBLOCK) {
				return false, nil
			}
			return false, err
		}
	}
	keep, err := s.referencedBlobs()
	if err != nil {
		return false, err
	}
	keepLayers := map[digest.Digest]bool{}
	imgs, err := s.Images()
	if err != nil {
		return false, err
	}
	for _, img := range imgs {
		for _, l := range img.Layers {
			keepLayers[l.DiffID] = true
		}
	}
	for _, d := range blobs {
		if keep[d] {
			continue
		}
		if p, err := s.BlobPath(d); err == nil {
			os.Remove(p)
		}
		os.Remove(s.path("locks", "blob-"+d.Algorithm().String()+"-"+d.Encoded()))
	}
	for _, d := range layers {
		if keepLayers[d] {
			continue
		}
		if dir, err := s.LayerDir(d); err == nil {
			if err := s.removeLayerDir(dir); err != nil {
				return false, err
			}
		}
		os.Remove(s.path("locks", "layer-"+FormatID(d)))
	}
	return true, nil
}
