package fetch

import (
	"context"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/store"
)

// These methods make a Fetcher the images stage0 prepares pods from
// (stage0.Images), in rkt-full.

// ImageStore is the store f fetches into.
func (f *Fetcher) ImageStore() *store.Store { return f.Store }

// FetchImage is Fetch with signature as --signature.
func (f *Fetcher) FetchImage(ctx context.Context, input, signature string) (*store.Image, []aci.Node, error) {
	img, err := f.fetchOne(ctx, input, signature)
	if err != nil {
		return nil, nil, err
	}
	tree, err := f.fetchDependencies(ctx, img)
	if err != nil {
		return nil, nil, err
	}
	return img, tree, nil
}

// StoredACITree is the package's StoredACITree in f's store.
func (f *Fetcher) StoredACITree(img *store.Image) ([]aci.Node, error) {
	return StoredACITree(f.Store, img)
}

// ImportStage1 is ImportACIFile: a stage1 image file is trusted.
func (f *Fetcher) ImportStage1(ctx context.Context, file string) (*store.Image, error) {
	return f.ImportACIFile(ctx, file)
}

// LookupImage is Lookup in f's store.
func (f *Fetcher) LookupImage(input string) (*store.Image, error) { return Lookup(f.Store, input) }

// InsecureImage is --insecure-options=image.
func (f *Fetcher) InsecureImage() bool { return f.Insecure.Image }

// Offline is false: f may download.
func (f *Fetcher) Offline() bool { return false }

// RenderLimits are f's limits on rendering.
func (f *Fetcher) RenderLimits() rootfs.Limits { return f.Limits }
