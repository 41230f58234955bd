package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/discovery"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/image"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/trust"
)

// Insecure are the fetch-side --insecure-options.
type Insecure struct {
	HTTP  bool
	TLS   bool
	Image bool
	// PubKey lets --trust-keys-from-https take keys over plain HTTP too.
	PubKey bool
}

// Progress receives per-layer progress. Implementations must be safe for
// concurrent use.
type Progress interface {
	// Layer starts the display of one layer of total bytes.
	Layer(id string, total int64) LayerProgress
}

// LayerProgress is one layer's line of progress.
type LayerProgress interface {
	// Phase names what is happening ("downloading", "unpacking", "exists").
	Phase(p string)
	// Bytes sets the bytes done so far.
	Bytes(n int64)
	// Done ends the line.
	Done(err error)
}

// Fetcher fetches images into a store.
type Fetcher struct {
	Store      *store.Store
	Config     *config.Config
	Insecure   Insecure
	PullPolicy store.PullPolicy
	// Progress may be nil.
	Progress Progress
	// Debugf receives diagnostic lines (rkt --debug); may be nil.
	Debugf func(format string, args ...any)
	// Jobs is how many layers download at once (default 4).
	Jobs int
	// Limits bound layer rendering.
	Limits rootfs.Limits
	// UserAgent is sent to registries.
	UserAgent string
	// Keystore holds the keys image signatures are checked against.
	Keystore trust.Keystore
	// Signature is a signature file for the ACI fetched (--signature);
	// empty means the image's path with .asc appended.
	Signature string
	// Notef receives what rkt 1.x printed unasked, as lines (who signed
	// an image); may be nil.
	Notef func(format string, args ...any)
	// TrustKeysFromHTTPS trusts the keys that discovery finds over https
	// for an image name no key is trusted for (--trust-keys-from-https).
	TrustKeysFromHTTPS bool

	// client is the HTTP client of ACI, discovery and key downloads,
	// made on first use (httpClient).
	clientOnce sync.Once
	client     *http.Client
}

func (f *Fetcher) debugf(format string, args ...any) {
	if f.Debugf != nil {
		f.Debugf(format, args...)
	}
}

// Fetched is what Fetch made present.
type Fetched struct {
	// Image is the record of the image asked for.
	Image *store.Image
	// ACI, for an ACI, is its dependency tree as Fetch resolved it: the
	// image first, then its dependencies depth first, each the image it
	// was fetched or found as. It is nil for other images.
	ACI []aci.Node
}

// Fetch makes the image named by input present and rendered in the store,
// with its dependencies (an ACI's), and returns its record and, for an
// ACI, the images its dependencies resolved to.
func (f *Fetcher) Fetch(ctx context.Context, input string) (*Fetched, error) {
	img, tree, err := f.FetchImage(ctx, input, f.Signature)
	if err != nil {
		return nil, err
	}
	return &Fetched{Image: img, ACI: tree}, nil
}

// fetchOne is Fetch without the dependencies; sigFile is --signature.
func (f *Fetcher) fetchOne(ctx context.Context, input, sigFile string) (*store.Image, error) {
	start := time.Now()
	ref, err := image.ParseReference(input)
	if err != nil {
		return nil, err
	}
	if sigFile != "" && ref.Transport != image.ACI && ref.Transport != image.ACIURL && ref.Transport != image.Stored {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: --signature is an ACI's OpenPGP signature; %s images are not signed that way", input, ref.Transport))
	}
	var img *store.Image
	tx := &added{}
	switch ref.Transport {
	case image.Stored:
		img, err = f.byName(ctx, ref, sigFile)
	case image.Docker:
		img, err = f.fetchRemote(ctx, tx, ref)
	case image.ACI:
		img, err = f.fetchACI(ctx, ref, sigFile)
	case image.ACIURL:
		img, err = f.fetchACIURL(ctx, ref.Input, ref.URL, ref.URL+".asc", sigFile, nil)
	default:
		img, err = f.fetchLocal(ctx, tx, ref)
	}
	if err == nil {
		err = f.ensureRendered(ctx, tx, img)
	}
	if err != nil {
		// A failed fetch leaves the store as it was, when no other rkt
		// is using it; otherwise image gc collects the leftovers.
		if cleaned, derr := f.Store.Discard(tx.blobs, tx.layers); derr != nil {
			f.debugf("image: discard leftovers of %s: %v", input, derr)
		} else if !cleaned {
			f.debugf("image: store busy: leftovers of %s stay for image gc", input)
		}
		return nil, err
	}
	f.debugf("image: %s is %s (%v)", input, store.FormatID(img.ID), time.Since(start).Round(time.Millisecond))
	return img, nil
}

// byName finds a stored image by ID or name, or fetches an ACI by appc
// discovery: with --pull-policy=new when no image of that name is stored,
// with update unless the stored image of that name came from elsewhere
// (an OCI or Docker image: its origin is not found by discovery), and
// never with never. sigFile is --signature.
func (f *Fetcher) byName(ctx context.Context, ref *image.Reference, sigFile string) (*store.Image, error) {
	if ref.ID != "" || f.PullPolicy == store.PullNever {
		return f.fromStore(ref)
	}
	img, err := lookup(f.Store, ref)
	switch {
	case err == nil && (f.PullPolicy == store.PullNew || img.MediaType != aci.MediaType):
		f.debugf("image: using image from local store for image name %s", ref.Input)
		return img, nil
	case err != nil && !errdefs.Is(err, errdefs.KindNotFound):
		return nil, err
	}
	if _, perr := discovery.ParseApp(ref.Name); perr != nil {
		return f.fromStore(ref)
	}
	f.debugf("image: searching for app image %s", ref.Input)
	return f.fetchDiscovered(ctx, ref.Name, sigFile)
}

// fromStore finds a stored image by ID prefix or by name.
func (f *Fetcher) fromStore(ref *image.Reference) (*store.Image, error) {
	img, err := lookup(f.Store, ref)
	if errdefs.Is(err, errdefs.KindNotFound) && ref.ID == "" && ref.Name != "" {
		// As rkt 1.x's store did: an appc name finds the newest stored
		// ACI of that name with the labels asked for ("NAME" any
		// version, "NAME,version=1.0" that one).
		if app, perr := discovery.ParseApp(ref.Name); perr == nil {
			if aci, aerr := LookupACI(f.Store, app); aerr == nil {
				img, err = aci, nil
			}
		}
	}
	if err == nil {
		f.debugf("image: using image from local store for %s", ref.Input)
		return img, nil
	}
	if errdefs.Is(err, errdefs.KindNotFound) && ref.Name != "" {
		return nil, errdefs.NotFound(fmt.Errorf("image %q is not in the store: fetch it with a transport (docker://%s, oci:DIR, ...) or by its appc name", ref.Input, ref.Input))
	}
	return nil, err
}

// Lookup finds a stored image the way the image commands name one: by ID
// prefix (sha256-ab…), by name, or by docker:// reference (a tag, or the
// digest of its manifest or of the index it was picked from).
func Lookup(s *store.Store, input string) (*store.Image, error) {
	ref, err := image.ParseReference(input)
	if err != nil {
		return nil, err
	}
	return lookup(s, ref)
}

func lookup(s *store.Store, ref *image.Reference) (*store.Image, error) {
	switch ref.Transport {
	case image.Stored:
		if ref.ID != "" {
			return s.LookupID(ref.Input) // the input as typed, so errors name it
		}
		for _, n := range image.NormalizeName(ref.Name) {
			if img, err := s.LookupName(n); err == nil {
				return img, nil
			}
		}
		return nil, errdefs.NotFound(fmt.Errorf("no image %q in the store", ref.Input))
	case image.Docker:
		if d, ok := ref.Docker.(name.Digest); ok {
			return s.LookupDigest(digest.Digest(d.DigestStr()))
		}
		return s.LookupName(ref.StoreName())
	}
	return nil, errdefs.InvalidArgument(fmt.Errorf("%q is not a stored image (give an image ID, a name or a docker:// reference)", ref.Input))
}

func (f *Fetcher) checkUnsigned(ref *image.Reference) error {
	if f.Insecure.Image {
		return nil
	}
	return errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q: signature verification of %s images is not supported yet; fetch it unverified with --insecure-options=image", ref.Input, ref.Transport))
}

// added records what a fetch put in the store, to take it back if the
// fetch fails.
type added struct {
	mu     sync.Mutex
	blobs  []digest.Digest
	layers []digest.Digest
}

func (a *added) blob(s *store.Store, d digest.Digest) {
	if s.HasBlob(d) {
		return
	}
	a.mu.Lock()
	a.blobs = append(a.blobs, d)
	a.mu.Unlock()
}

func (a *added) layer(s *store.Store, d digest.Digest) {
	if s.HasLayer(d) {
		return
	}
	a.mu.Lock()
	a.layers = append(a.layers, d)
	a.mu.Unlock()
}

func (f *Fetcher) fetchRemote(ctx context.Context, tx *added, ref *image.Reference) (*store.Image, error) {
	storeName := ref.StoreName()
	if f.PullPolicy != store.PullUpdate {
		img, err := lookup(f.Store, ref)
		if err == nil {
			f.debugf("image: using image from local store for image name %s", storeName)
			return img, f.Store.Touch(img.ID)
		}
		if !errdefs.Is(err, errdefs.KindNotFound) {
			return nil, err
		}
		if f.PullPolicy == store.PullNever {
			return nil, errdefs.NotFound(fmt.Errorf("image %q is not in the store (--pull-policy=never)", ref.Input))
		}
	}
	var keys []*trust.CosignKey
	if !f.Insecure.Image {
		// Refuse before reaching the registry when no key could verify.
		var err error
		if keys, err = f.cosignKeys(ref); err != nil {
			return nil, err
		}
	}
	f.debugf("image: remote fetching from %s", ref.Docker)
	src, err := image.NewRemote(ctx, ref, image.RemoteOptions{
		AllowHTTP:     f.Insecure.HTTP,
		SkipTLSVerify: f.Insecure.TLS,
		Keychain:      image.Keychain(f.Config),
		UserAgent:     f.UserAgent,
		Stored:        f.storedBlob,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Input, err)
	}
	defer src.Close()
	tag := ""
	if t, ok := ref.Docker.(name.Tag); ok {
		tag = t.TagStr()
	}
	var check func(context.Context, *image.Resolved) error
	if !f.Insecure.Image {
		check = func(ctx context.Context, r *image.Resolved) error {
			return f.verifyCosign(ctx, ref, src, keys, r)
		}
	}
	return f.importImage(ctx, tx, ref, src, tag == "latest", check)
}

// storedBlob returns blob d from the store when it is there, intact and at
// most limit bytes, so that a re-fetch does not download it again.
func (f *Fetcher) storedBlob(d digest.Digest, limit int64) ([]byte, bool) {
	rc, err := f.Store.OpenBlob(d)
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil || int64(len(b)) > limit || d.Algorithm().FromBytes(b) != d {
		return nil, false
	}
	return b, true
}

func (f *Fetcher) fetchLocal(ctx context.Context, tx *added, ref *image.Reference) (*store.Image, error) {
	if f.PullPolicy == store.PullNever {
		f.debugf("image: %s is a local file: reading it despite --pull-policy=never", ref.Input)
	}
	if err := f.checkUnsigned(ref); err != nil {
		return nil, err
	}
	f.debugf("image: using image from file %s", ref.Path)
	src, err := image.NewLocal(ref)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return f.importImage(ctx, tx, ref, src, ref.Ref == "" || ref.Ref == "latest", nil)
}

// importImage stores a resolved image: manifest and config, then every
// layer blob (in parallel, each rendered as soon as it is stored), then the
// record, which commits it. check, if not nil, vets the resolved image
// before anything is stored.
func (f *Fetcher) importImage(ctx context.Context, tx *added, ref *image.Reference, src image.Source, latest bool, check func(context.Context, *image.Resolved) error) (*store.Image, error) {
	t0 := time.Now()
	r, err := src.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	f.debugf("image: resolved %s to manifest %s (%v)", ref.Input, r.Digest, time.Since(t0).Round(time.Millisecond))
	if check != nil {
		if err := check(ctx, r); err != nil {
			return nil, err
		}
	}
	tx.blob(f.Store, r.Digest)
	if err := f.Store.PutBlobBytes(r.Digest, r.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Input, err)
	}
	tx.blob(f.Store, r.ConfigDigest)
	if err := f.Store.PutBlobBytes(r.ConfigDigest, r.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Input, err)
	}
	layers := make([]store.LayerRecord, len(r.Layers))
	for i, l := range r.Layers {
		layers[i] = store.LayerRecord{Digest: l.Digest, Size: l.Size, MediaType: string(l.MediaType), DiffID: l.DiffID}
	}
	if err := f.fetchLayers(ctx, tx, src, layers); err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Input, err)
	}
	now := time.Now()
	img := &store.Image{
		ID:           r.Digest,
		Name:         r.Name,
		MediaType:    string(r.MediaType),
		Config:       r.ConfigDigest,
		ConfigSize:   int64(len(r.Config)),
		Layers:       layers,
		ManifestSize: int64(len(r.Manifest)),
		Index:        r.Index,
		Source:       ref.Input,
		ImportTime:   now,
		LastUsed:     now,
		Latest:       latest,
	}
	if err := f.Store.PutImage(img); err != nil {
		return nil, err
	}
	f.debugf("image: stored %s as %s (%v)", ref.Input, store.FormatID(img.ID), time.Since(t0).Round(time.Millisecond))
	return img, nil
}

// fetchLayers downloads and renders layers, f.Jobs at a time. The first
// error cancels the rest.
func (f *Fetcher) fetchLayers(ctx context.Context, tx *added, src image.Source, layers []store.LayerRecord) error {
	jobs := f.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	seen := map[digest.Digest]bool{}
	for _, l := range layers {
		// An image may list the same layer twice; fetch it once.
		if seen[l.Digest] {
			continue
		}
		seen[l.Digest] = true
		wg.Add(1)
		go func(l store.LayerRecord) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := f.fetchLayer(ctx, tx, src, l); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}(l)
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func (f *Fetcher) fetchLayer(ctx context.Context, tx *added, src image.Source, l store.LayerRecord) (err error) {
	var bar LayerProgress = nopBar{}
	if f.Progress != nil {
		bar = f.Progress.Layer(shortDigest(l.Digest), l.Size)
	}
	defer func() { bar.Done(err) }()
	t0 := time.Now()
	if f.Store.HasBlob(l.Digest) {
		bar.Phase("exists")
	} else {
		tx.blob(f.Store, l.Digest)
		bar.Phase("downloading")
	}
	got, err := f.Store.PutBlob(ctx, l.Digest, l.Size, func(ctx context.Context) (io.ReadCloser, error) {
		return src.OpenBlob(ctx, l.Digest, l.Size)
	}, bar.Bytes)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if got {
		f.debugf("image: downloaded layer %s (%d bytes) in %v", l.Digest, l.Size, time.Since(t0).Round(time.Millisecond))
	}
	t1 := time.Now()
	bar.Phase("unpacking")
	tx.layer(f.Store, l.DiffID)
	rendered, err := f.Store.RenderLayer(ctx, l, store.RenderOptions{Limits: f.Limits, Progress: bar.Bytes})
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if rendered {
		f.debugf("image: rendered layer %s in %v", store.FormatID(l.DiffID), time.Since(t1).Round(time.Millisecond))
	}
	return nil
}

// ensureRendered renders any layer of a stored image whose rendered tree is
// missing (removed by gc or by verify).
func (f *Fetcher) ensureRendered(ctx context.Context, tx *added, img *store.Image) error {
	for _, l := range img.Layers {
		if f.Store.HasLayer(l.DiffID) {
			continue
		}
		if !f.Store.HasBlob(l.Digest) {
			return errdefs.NotFound(fmt.Errorf("image %s: layer blob %s is missing from the store: fetch the image again", store.FormatID(img.ID), l.Digest))
		}
		tx.layer(f.Store, l.DiffID)
		if _, err := f.Store.RenderLayer(ctx, l, store.RenderOptions{Limits: f.Limits}); err != nil {
			return fmt.Errorf("image %s: %w", store.FormatID(img.ID), err)
		}
	}
	return nil
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

type nopBar struct{}

func (nopBar) Phase(string) {}
func (nopBar) Bytes(int64)  {}
func (nopBar) Done(error)   {}

// ImportACIFile stores a local ACI file as an image and renders it: the
// stage1 images rkt builds and finds beside its binary. Such images are
// trusted as rkt 1.x trusted its build's stage1 images (no signature); the
// caller decides when that applies. The image's ID is the file's sha512.
func (f *Fetcher) ImportACIFile(ctx context.Context, file string) (*store.Image, error) {
	// rkt run loads the stage1 image each time: reuse the stored image
	// while the file is unchanged instead of hashing it again.
	ident, identErr := store.IdentifyFile(file)
	if identErr == nil {
		if img, ok := f.Store.FileImage(ident); ok {
			if err := f.ensureRendered(ctx, &added{}, img); err == nil {
				return img, nil
			}
		}
	}
	a, err := image.ReadACIFile(file)
	if err != nil {
		return nil, err
	}
	img, err := f.importACI(ctx, file, file, a)
	if err == nil && identErr == nil {
		if err := f.Store.SetFileImage(ident, a.Digest); err != nil {
			f.debugf("image: remember %s: %v", file, err)
		}
	}
	return img, err
}

// importACI stores an ACI file that ReadACIFile read as a: the blob (the
// store checks it is still a.Digest), its rendering, and the record, whose
// source (and errors) name source: the file, or the URL it was downloaded
// from.
func (f *Fetcher) importACI(ctx context.Context, file, source string, a *image.ACIFile) (*store.Image, error) {
	if img, err := f.Store.Image(a.Digest); err == nil {
		if err := f.ensureRendered(ctx, &added{}, img); err != nil {
			return nil, err
		}
		return img, nil
	}
	layer := store.LayerRecord{Digest: a.Digest, Size: a.Size, MediaType: aci.MediaType, DiffID: a.DiffID}
	tx := &added{}
	tx.blob(f.Store, a.Digest)
	_, err := f.Store.PutBlob(ctx, a.Digest, a.Size, func(context.Context) (io.ReadCloser, error) {
		return os.Open(file)
	}, nil)
	if err == nil {
		tx.layer(f.Store, a.DiffID)
		_, err = f.Store.RenderLayer(ctx, layer, store.RenderOptions{Limits: f.Limits})
	}
	now := time.Now()
	img := &store.Image{
		ID: a.Digest, Name: image.ACIName(a.Manifest), MediaType: aci.MediaType,
		Layers: []store.LayerRecord{layer}, Source: source, ImportTime: now, LastUsed: now,
	}
	if err == nil {
		err = f.Store.PutImage(img)
	}
	if err != nil {
		if _, derr := f.Store.Discard(tx.blobs, tx.layers); derr != nil {
			f.debugf("image: discard leftovers of %s: %v", source, derr)
		}
		return nil, fmt.Errorf("import %s: %w", source, err)
	}
	f.debugf("image: imported %s as %s", file, store.FormatID(img.ID))
	return img, nil
}
