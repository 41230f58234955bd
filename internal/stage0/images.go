package stage0

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/store"
)

// Images is where Prepare gets a pod's images and its stage1: the fetcher
// in rkt-full (which fetches, verifies and renders), and StoredImages in
// the front rkt (the store alone).
type Images interface {
	// ImageStore is the store the images are in.
	ImageStore() *store.Store
	// FetchImage makes the image input names present and rendered, and
	// returns its record and, for an ACI, its dependency tree. signature
	// is --signature.
	FetchImage(ctx context.Context, input, signature string) (*store.Image, []aci.Node, error)
	// StoredACITree is a stored ACI's dependency tree as the store
	// resolves it (nil for other images).
	StoredACITree(img *store.Image) ([]aci.Node, error)
	// ImportStage1 stores and renders a stage1 ACI file, trusted.
	ImportStage1(ctx context.Context, file string) (*store.Image, error)
	// LookupImage finds a stored image by ID or name.
	LookupImage(input string) (*store.Image, error)
	// InsecureImage is --insecure-options=image.
	InsecureImage() bool
	// RenderLimits bound what stage0 renders into a pod.
	RenderLimits() rootfs.Limits
	// Offline reports whether FetchImage and ImportStage1 only look in
	// the store, never downloading: Prepare then makes the pod directory
	// while they look. A fetcher may download for seconds, and like rkt
	// 1.x, rkt makes no pod before its images are there.
	Offline() bool
}

// ErrNotStored says that StoredImages cannot give an image without
// fetching, verifying or rendering it: the front rkt then hands the whole
// command to rkt-full, before it has made anything.
var ErrNotStored = errors.New("the image needs fetching, verifying or rendering")

// StoredImages gives the images that are stored and rendered, and nothing
// else: the front rkt's Images. It answers ErrNotStored wherever the
// fetcher would fetch, import, verify or render, and wherever it cannot
// tell cheaply that the fetcher would not (ACIs, whose dependencies
// discovery may resolve; names the fetcher might read as a transport).
type StoredImages struct {
	Store *store.Store
	// Update is --pull-policy=update: every image is asked for at its
	// origin.
	Update bool
	// Limits bound rendering (ACI trees; never reached for OCI images).
	Limits rootfs.Limits
	// Insecure is --insecure-options=image.
	Insecure bool
}

// ImageStore implements Images.
func (si *StoredImages) ImageStore() *store.Store { return si.Store }

// InsecureImage implements Images.
func (si *StoredImages) InsecureImage() bool { return si.Insecure }

// RenderLimits implements Images.
func (si *StoredImages) RenderLimits() rootfs.Limits { return si.Limits }

// Offline implements Images: StoredImages never fetches.
func (si *StoredImages) Offline() bool { return true }

// FetchImage implements Images: a stored, rendered image that is not an
// ACI, named by ID or by the exact name it is stored under.
func (si *StoredImages) FetchImage(_ context.Context, input, signature string) (*store.Image, []aci.Node, error) {
	if signature != "" || si.Update {
		return nil, nil, fmt.Errorf("image %s: %w", input, ErrNotStored)
	}
	img, err := si.LookupImage(input)
	if err != nil {
		return nil, nil, err
	}
	if img.MediaType == aci.MediaType || !si.rendered(img) {
		return nil, nil, fmt.Errorf("image %s: %w", input, ErrNotStored)
	}
	return img, nil, nil
}

// rendered reports whether every layer of img has its rendered tree.
func (si *StoredImages) rendered(img *store.Image) bool {
	for _, l := range img.Layers {
		if !si.Store.HasLayer(l.DiffID) {
			return false
		}
	}
	return true
}

// LookupImage implements Images: an image ID (sha256-ab…, as the fetcher
// reads one), or a name exactly as stored that the fetcher would read as a
// stored name (StoredName). Anything else, or no such image, is
// ErrNotStored: the fetcher's lookup knows more spellings, and its errors.
func (si *StoredImages) LookupImage(input string) (*store.Image, error) {
	if isImageID(input) {
		img, err := si.Store.LookupID(input)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotStored, err)
		}
		return img, nil
	}
	if !StoredName(input) {
		return nil, fmt.Errorf("image %s: %w", input, ErrNotStored)
	}
	img, err := si.Store.LookupName(input)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	return img, nil
}

// StoredACITree implements Images: an ACI's tree is the fetcher's to
// resolve.
func (si *StoredImages) StoredACITree(img *store.Image) ([]aci.Node, error) {
	if img.MediaType == aci.MediaType {
		return nil, fmt.Errorf("ACI %s: %w", store.FormatID(img.ID), ErrNotStored)
	}
	return nil, nil
}

// ImportStage1 implements Images: the stage1 file must be stored, as the
// store's file records say, and rendered.
func (si *StoredImages) ImportStage1(_ context.Context, file string) (*store.Image, error) {
	ident, err := store.IdentifyFile(file)
	if err != nil {
		return nil, fmt.Errorf("stage1 image %s: %w", file, ErrNotStored)
	}
	img, ok := si.Store.FileImage(ident)
	if !ok || !si.rendered(img) {
		return nil, fmt.Errorf("stage1 image %s: %w", file, ErrNotStored)
	}
	return img, nil
}

// StoredName reports whether an image input is surely a stored image's
// name to the fetcher's parser (image.ParseReference): no transport prefix
// or URL, no path, no .aci, no blank, and no colon before the first slash
// (where a transport prefix would end). It errs on the side of no: a name
// it refuses goes to rkt-full, which knows every spelling.
func StoredName(s string) bool {
	if s == "" || len(s) > 4096 || isImageID(s) || strings.Contains(s, "://") || strings.HasSuffix(s, ".aci") ||
		strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.ContainsAny(s, " \t\n\r\x00") {
		return false
	}
	colon, slash := strings.IndexByte(s, ':'), strings.IndexByte(s, '/')
	return colon < 0 || slash >= 0 && slash < colon
}

func isImageID(s string) bool {
	_, _, ok := store.ParseImageID(s)
	return ok
}
