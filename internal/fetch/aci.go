package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/discovery"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/image"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/trust"
)

// MaxACISize bounds an ACI download.
const MaxACISize = 16 << 30

// fetchACI imports an ACI file (its os and arch labels checked), after
// checking its detached signature (PATH.asc, or sigFile: --signature)
// against the keys trusted for its name, unless --insecure-options=image.
func (f *Fetcher) fetchACI(ctx context.Context, ref *image.Reference, sigFile string) (*store.Image, error) {
	f.debugf("image: using image from file %s", ref.Path)
	if f.Insecure.Image {
		return f.ImportACIFile(ctx, ref.Path)
	}
	if sigFile == "" {
		sigFile = ref.Path + ".asc"
	}
	sig, err := readSignature(sigFile)
	if err != nil {
		return nil, errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q: error opening signature file: %w", ref.Input, err))
	}
	img, _, err := f.verifyAndImport(ctx, ref.Input, ref.Path, ref.Path, sig)
	return img, err
}

// verifyAndImport checks an ACI file's signature against the keys trusted
// for the name in its manifest (sig nil: not checked), then imports it:
// the bytes stored are the bytes checked. (The file-identity shortcut of
// ImportACIFile is not taken: a signature is checked on every fetch.)
// source is where the ACI came from, for errors and the image's record:
// its URL for a download, whose file is a temporary one.
func (f *Fetcher) verifyAndImport(ctx context.Context, input, path, source string, sig []byte) (*store.Image, *schema.ImageManifest, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, errdefs.NotFound(fmt.Errorf("image %s: %w", source, err))
	}
	defer file.Close()
	var a *image.ACIFile
	if sig == nil {
		if a, err = image.ReadACI(file); err != nil {
			err = fmt.Errorf("image %s: %w", source, err)
		}
	} else {
		a, err = f.readVerified(ctx, input, file, source, sig)
	}
	if err != nil {
		return nil, nil, err
	}
	img, err := f.importACI(ctx, path, source, a)
	if err != nil {
		return nil, nil, err
	}
	return img, a.Manifest, nil
}

// readVerified reads an ACI file as ReadACIFile does and checks its
// detached signature in the same pass, against the keys trusted for the
// name in its manifest: the bytes hashed into its ID, which the store
// checks again as it copies them, are the bytes verified. Only the
// manifest is read before, to know whose keys verify it; then the file is
// read again from its start. source names the ACI in errors.
func (f *Fetcher) readVerified(ctx context.Context, input string, file *os.File, source string, sig []byte) (*image.ACIFile, error) {
	m, err := image.PeekACI(file)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", source, err)
	}
	name := m.Name.String()
	keyring, err := f.Keystore.Keyring(name)
	if err != nil {
		return nil, err
	}
	if f.TrustKeysFromHTTPS && len(keyring) == 0 {
		if keyring, err = f.trustDiscoveredKeys(ctx, name); err != nil {
			return nil, err
		}
	}
	if len(keyring) == 0 {
		// No key can verify it: the verdict (the signature's own error,
		// or no trusted key) needs no byte of the image, which may be
		// gigabytes.
		_, err := trust.CheckDetached(nil, name, strings.NewReader(""), sig)
		return nil, verificationFailed(input, name, err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("image %s: %w", source, err)
	}
	type verdict struct {
		signer *openpgp.Entity
		err    error
	}
	pr, pw := io.Pipe()
	done := make(chan verdict, 1)
	go func() {
		signer, err := trust.CheckDetached(keyring, name, pr, sig)
		// A verifier that stops early (a signature it cannot use) leaves
		// the rest of the file to the reader.
		_, _ = io.Copy(io.Discard, pr)
		done <- verdict{signer, err}
	}()
	a, err := image.ReadACI(io.TeeReader(file, pw))
	pw.CloseWithError(err) // nil: the end of the file, for the verifier
	v := <-done
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", source, err)
	}
	if v.err != nil {
		return nil, verificationFailed(input, name, v.err)
	}
	if got := a.Manifest.Name.String(); got != name {
		return nil, fmt.Errorf("image %q changed while it was read (its manifest named %s, then %s)", input, name, got)
	}
	if f.Notef != nil {
		f.Notef("image: signature verified:")
		for _, id := range trust.Identities(v.signer) {
			f.Notef("  %s", id)
		}
	}
	return a, nil
}

// verificationFailed is the error of an image whose signature did not
// verify (err says why) against the keys trusted for name.
func verificationFailed(input, name string, err error) error {
	if err == nil {
		err = errors.New("no key verified it")
	}
	return errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q (%s): signature verification failed: %w", input, name, err))
}

// readSignature reads a signature file of at most trust.MaxSignatureSize
// bytes.
func readSignature(file string) ([]byte, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return image.ReadLimited(fh, trust.MaxSignatureSize, file)
}

// httpClient is the client of ACI downloads, discovery and keys, made
// once per Fetcher so that they share connections: the insecure options,
// and the auth.d credentials of the host, on https only.
func (f *Fetcher) httpClient() *http.Client {
	f.clientOnce.Do(func() {
		f.client = image.HTTPClient(image.RemoteOptions{AllowHTTP: f.Insecure.HTTP, SkipTLSVerify: f.Insecure.TLS, UserAgent: f.UserAgent}, f.Config)
	})
	return f.client
}

// Get returns the body of a 200 answer to GET url with this fetcher's
// client (the insecure options, auth.d credentials): for rkt trust's key
// downloads.
func (f *Fetcher) Get(ctx context.Context, url string) (io.ReadCloser, error) {
	return f.get(ctx, f.httpClient(), url)
}

// get returns the body of a 200 answer to GET url.
func (f *Fetcher) get(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	resp, err := f.do(ctx, client, url, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// fetchACIURL downloads an ACI and, unless --insecure-options=image, its
// signature (ascURL, or the local sigFile: --signature) before the ACI's
// body, and imports it; want, when set, are the name and labels discovery
// was asked for, which the manifest must have. A URL fetched before is not
// downloaded again with --pull-policy=new, nor with update while the
// server's Cache-Control max-age lasts or when it answers the stored ETag
// with 304 Not Modified.
func (f *Fetcher) fetchACIURL(ctx context.Context, input, aciURL, ascURL, sigFile string, want *discovery.App) (*store.Image, error) {
	client := f.httpClient()
	rec, stored, cached := f.Store.RemoteImage(aciURL)
	if cached && (f.PullPolicy != store.PullUpdate || time.Since(rec.Downloaded) < rec.MaxAge) {
		f.debugf("image: using image from local store for URL %q", aciURL)
		return stored, nil
	}
	if f.PullPolicy == store.PullNever {
		return nil, errdefs.NotFound(fmt.Errorf("image %q is not in the store (--pull-policy=never)", input))
	}
	f.debugf("image: remote fetching from URL %q", aciURL)
	etag := ""
	if cached {
		etag = rec.ETag
	}
	resp, err := f.do(ctx, client, aciURL, etag)
	if err != nil {
		return nil, errdefs.NotFound(fmt.Errorf("image %q: %w", input, err))
	}
	defer resp.Body.Close()
	fresh := store.RemoteRecord{URL: aciURL, ETag: resp.Header.Get("ETag"), MaxAge: maxAge(resp.Header.Get("Cache-Control")), Downloaded: time.Now()}
	if resp.StatusCode == http.StatusNotModified && cached {
		f.debugf("image: %s not modified", aciURL)
		fresh.ID, fresh.ETag = rec.ID, rec.ETag
		if err := f.Store.SetRemote(fresh); err != nil {
			f.debugf("image: remember %s: %v", aciURL, err)
		}
		return stored, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errdefs.NotFound(fmt.Errorf("image %q: GET %s: %s", input, aciURL, resp.Status))
	}
	// The ACI's answer says it is there; its body waits while the
	// signature is fetched, so that a missing or oversized one fails
	// before a large download.
	sig, err := f.aciSignature(ctx, client, input, ascURL, sigFile)
	if err != nil {
		return nil, err
	}
	tmp, err := f.Store.TempFile("aci-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, MaxACISize+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: downloading %s: %w", input, aciURL, err)
	}
	if n > MaxACISize {
		return nil, fmt.Errorf("image %q: %s is larger than %d bytes", input, aciURL, int64(MaxACISize))
	}
	img, m, err := f.verifyAndImport(ctx, input, tmp.Name(), aciURL, sig)
	if err != nil {
		return nil, err
	}
	if want != nil {
		if err := checkLabels(m, want); err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: %w", input, err))
		}
	}
	fresh.ID = img.ID
	if err := f.Store.SetRemote(fresh); err != nil {
		f.debugf("image: remember %s: %v", aciURL, err)
	}
	return img, nil
}

// aciSignature is the signature of an ACI download: none with
// --insecure-options=image, else the local sigFile (--signature) when
// given, else the download of ascURL, at most trust.MaxSignatureSize
// bytes.
func (f *Fetcher) aciSignature(ctx context.Context, client *http.Client, input, ascURL, sigFile string) ([]byte, error) {
	switch {
	case f.Insecure.Image:
		return nil, nil
	case sigFile != "":
		sig, err := readSignature(sigFile)
		if err != nil {
			return nil, errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q: error opening signature file: %w", input, err))
		}
		return sig, nil
	}
	body, err := f.get(ctx, client, ascURL)
	if err != nil {
		return nil, errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q: error downloading the signature: %w", input, err))
	}
	defer body.Close()
	return image.ReadLimited(body, trust.MaxSignatureSize, ascURL)
}

// do sends GET url, with If-None-Match when etag is set.
func (f *Fetcher) do(ctx context.Context, client *http.Client, url, etag string) (*http.Response, error) {
	if strings.HasPrefix(url, "http://") && !f.Insecure.HTTP {
		return nil, fmt.Errorf("%s: plain HTTP is not allowed (use --insecure-options=http)", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	return client.Do(req)
}

// maxAge reads Cache-Control's max-age (none, or no-cache/no-store: 0).
func maxAge(cc string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if d == "no-cache" || d == "no-store" {
			return 0
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < 1<<31 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}

// checkLabels compares the fetched manifest with what discovery was asked.
func checkLabels(m *schema.ImageManifest, want *discovery.App) error {
	if m.Name.String() != want.Name {
		return fmt.Errorf("the fetched image is named %q, not %q", m.Name, want.Name)
	}
	for _, k := range slices.Sorted(maps.Keys(want.Requested)) {
		v := want.Requested[k]
		got, _ := m.Labels.Get(k)
		if got != v {
			return fmt.Errorf("requested value for label %q: %q differs from fetched aci label value: %q", k, v, got)
		}
	}
	return nil
}

// fetchDiscovered finds an image by appc meta discovery and fetches it.
func (f *Fetcher) fetchDiscovered(ctx context.Context, input, sigFile string) (*store.Image, error) {
	app, res, _, err := f.discover(ctx, input, f.Insecure.HTTP, nil, func(r discovery.Result) bool { return len(r.Endpoints) > 0 })
	if err != nil {
		if errdefs.Is(err, errdefs.KindInvalidArgument) {
			return nil, err
		}
		return nil, errdefs.NotFound(fmt.Errorf("image %q is not in the store, and %w (a Docker or OCI image needs its transport: docker://NAME, oci:DIR, ...)", input, err))
	}
	var errs []error
	for _, ep := range res.Endpoints {
		img, err := f.fetchACIURL(ctx, input, ep.ACI, ep.ASC, sigFile, &app)
		if err == nil {
			return img, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// trustDiscoveredKeys adds, for a name no key is trusted for, the keys its
// discovery names, fetched over https only (--trust-keys-from-https), and
// returns them: the keys now trusted for name.
func (f *Fetcher) trustDiscoveredKeys(ctx context.Context, name string) (openpgp.EntityList, error) {
	var added openpgp.EntityList
	httpsOnly := func(url string) error {
		if !strings.HasPrefix(url, "https://") && !f.Insecure.PubKey {
			return fmt.Errorf("%s: keys are trusted from https only (--insecure-options=pubkey allows http)", url)
		}
		return nil
	}
	_, res, get, err := f.discover(ctx, name, f.Insecure.PubKey && f.Insecure.HTTP, httpsOnly, func(r discovery.Result) bool { return len(r.PublicKeys) > 0 })
	if err != nil {
		return nil, err
	}
	for _, u := range res.PublicKeys {
		body, err := get(ctx, u)
		if err != nil {
			return nil, err
		}
		keys, err := trust.ReadKeys(body)
		body.Close()
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", u, err)
		}
		for _, k := range keys {
			path, err := f.Keystore.AddKey(k, name, false)
			if err != nil {
				return nil, err
			}
			added = append(added, k)
			if f.Notef != nil {
				f.Notef("image: trusting key %s from %s for prefix %q (--trust-keys-from-https): %s", trust.FormatFingerprint(k), u, name, path)
			}
		}
	}
	return added, nil
}

// DiscoverPublicKeys finds the key URLs that appc discovery names for an
// image name prefix (ac-discovery-pubkeys), for rkt trust.
func (f *Fetcher) DiscoverPublicKeys(ctx context.Context, prefix string) ([]string, error) {
	_, res, _, err := f.discover(ctx, prefix, f.Insecure.HTTP, nil, func(r discovery.Result) bool { return len(r.PublicKeys) > 0 })
	if err != nil {
		if errdefs.Is(err, errdefs.KindInvalidArgument) {
			return nil, err
		}
		return nil, errdefs.NotFound(fmt.Errorf("keys for prefix %q: %w", prefix, err))
	}
	return res.PublicKeys, nil
}

// discover runs appc discovery for an image string with this fetcher's
// client until want is satisfied; check, when set, vets every URL before
// it is asked. The getter it returns asks further URLs the same way. A
// string that is not an image name is an invalid-argument error.
func (f *Fetcher) discover(ctx context.Context, input string, allowHTTP bool, check func(url string) error, want func(discovery.Result) bool) (discovery.App, discovery.Result, discovery.Getter, error) {
	app, err := discovery.ParseApp(input)
	if err != nil {
		return app, discovery.Result{}, nil, errdefs.InvalidArgument(err)
	}
	client := f.httpClient()
	get := func(ctx context.Context, url string) (io.ReadCloser, error) {
		if check != nil {
			if err := check(url); err != nil {
				return nil, err
			}
		}
		return f.get(ctx, client, url)
	}
	res, err := discovery.Discover(ctx, get, app, allowHTTP, want)
	return app, res, get, err
}

// fetchDependencies makes an ACI's dependencies present, depth first:
// each by its image ID when stored, else by name and labels (the store,
// then discovery, as the pull policy says), with its own signature
// checked against the keys of its own name; a pinned image ID must match.
// It returns the tree of images they resolved to, img first (nil for an
// image that is not an ACI). A dependency asked for twice in the tree is
// resolved once.
func (f *Fetcher) fetchDependencies(ctx context.Context, img *store.Image) ([]aci.Node, error) {
	resolved := map[string]*store.Image{}
	return aci.Tree(f.Store, img, func(d types.Dependency) (*store.Image, error) {
		key := aci.DependencyInput(d)
		if d.ImageID != nil {
			key += "@" + d.ImageID.String()
		}
		if dep, ok := resolved[key]; ok {
			return dep, nil
		}
		dep, err := f.dependency(ctx, d)
		if err == nil {
			resolved[key] = dep
		}
		return dep, err
	})
}

// StoredACITree is the dependency tree of a stored ACI, img first, each
// dependency found in the store by its pinned image ID, or as the newest
// stored ACI of its name with the labels it asks for; nil for an image
// that is not an ACI. It is for images whose fetch did not resolve them
// (a pod manifest's): Fetch returns the tree it resolved.
func StoredACITree(s *store.Store, img *store.Image) ([]aci.Node, error) {
	return aci.Tree(s, img, func(d types.Dependency) (*store.Image, error) {
		return lookupStoredDependency(s, d)
	})
}

// dependency finds or fetches one dependency of an ACI; its own
// dependencies are the tree walk's, which bounds them.
func (f *Fetcher) dependency(ctx context.Context, d types.Dependency) (*store.Image, error) {
	var want digest.Digest
	if d.ImageID != nil {
		if !strings.HasPrefix(d.ImageID.String(), "sha512-") || len(d.ImageID.Val) != 128 {
			return nil, fmt.Errorf("image ID %s: only whole sha512 IDs are supported", d.ImageID)
		}
		want = digest.NewDigestFromEncoded(digest.SHA512, d.ImageID.Val)
		if img, err := f.Store.Image(want); err == nil {
			return img, f.ensureRendered(ctx, &added{}, img)
		}
	}
	// A stored image of the name with the labels asked for (any version
	// when none is asked) will do, unless the pull policy asks the origin.
	if want == "" && f.PullPolicy != store.PullUpdate {
		if img, err := LookupACI(f.Store, dependencyApp(d)); err == nil {
			f.debugf("image: using image from local store for dependency %s", aci.DependencyInput(d))
			return img, f.ensureRendered(ctx, &added{}, img)
		}
	}
	// A dependency's signature is its own ASC (never --signature).
	img, err := f.fetchOne(ctx, aci.DependencyInput(d), "")
	if err != nil {
		return nil, err
	}
	if want != "" && img.ID != want {
		return nil, fmt.Errorf("fetched %s, not the pinned %s", store.FormatID(img.ID), store.FormatID(want))
	}
	return img, nil
}

// dependencyApp is the name and labels a dependency asks for.
func dependencyApp(d types.Dependency) discovery.App {
	app := discovery.App{Name: d.ImageName.String(), Requested: map[string]string{}}
	for _, l := range d.Labels {
		app.Requested[l.Name.String()] = l.Value
	}
	return app
}

// lookupStoredDependency finds a dependency in the store: by its pinned
// ID, or the newest stored ACI of its name with the labels it asks for.
func lookupStoredDependency(s *store.Store, d types.Dependency) (*store.Image, error) {
	if d.ImageID != nil {
		return s.LookupID(d.ImageID.String())
	}
	return LookupACI(s, dependencyApp(d))
}

// LookupACI finds the newest stored ACI named app.Name whose labels
// include every label app requested, as appc names match images: a name
// alone matches any version.
func LookupACI(s *store.Store, app discovery.App) (*store.Image, error) {
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	var best *store.Image
	for _, img := range imgs {
		if img.MediaType != aci.MediaType {
			continue
		}
		if n, _, _ := strings.Cut(img.Name, ":"); n != app.Name {
			continue
		}
		if best != nil && !img.ImportTime.After(best.ImportTime) {
			continue
		}
		m, _, err := aci.Manifest(s, img)
		if err != nil || checkLabels(m, &app) != nil {
			continue
		}
		best = img
	}
	if best == nil {
		return nil, errdefs.NotFound(fmt.Errorf("no image %q in the store", app.Name))
	}
	return best, nil
}
