package fetch

import (
	"context"
	"fmt"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/image"
	"github.com/rkt/rkt/internal/trust"
)

// cosignKeys returns the cosign keys trusted for a registry image's
// repository, or the error that refuses the image when there is none.
func (f *Fetcher) cosignKeys(ref *image.Reference) ([]*trust.CosignKey, error) {
	repo := ref.Docker.Context().Name()
	keys, err := f.Keystore.CosignKeys(ref.Docker.Context())
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref.Input, err)
	}
	if len(keys) == 0 {
		return nil, errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q: no key is trusted for docker://%s: trust the cosign public key it is signed with (rkt trust --prefix=docker://%s cosign.pub), or fetch it unverified with --insecure-options=image", ref.Input, repo, repo))
	}
	return keys, nil
}

// verifyCosign checks the cosign signatures of a resolved registry image
// against keys: one must verify and name the digest the reference resolves
// to (the index's, for a multi-platform image: what cosign signs when given
// a tag) and the image's repository. Nothing is stored yet when it runs.
func (f *Fetcher) verifyCosign(ctx context.Context, ref *image.Reference, src image.Source, keys []*trust.CosignKey, r *image.Resolved) error {
	refuse := func(err error) error {
		return errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("image %q: signature verification failed: %w", ref.Input, err))
	}
	ss, ok := src.(image.SignatureSource)
	if !ok {
		return refuse(fmt.Errorf("%s images have no cosign signatures", ref.Transport))
	}
	top := r.Digest
	if r.Index != "" {
		top = r.Index
	}
	sigs, err := ss.CosignSignatures(ctx, top)
	if err != nil {
		return refuse(err)
	}
	repo := ref.Docker.Context()
	k, err := trust.VerifyCosign(keys, sigs, repo, top.String())
	if err != nil {
		return refuse(err)
	}
	f.debugf("image: %s: cosign signature of %s verified with %s", ref.Input, top, k.File)
	if f.Notef != nil {
		f.Notef("image: signature verified:")
		f.Notef("  cosign key %s (%s) for docker://%s@%s", k.Fingerprint(), k.Algorithm(), repo.Name(), top)
	}
	return nil
}
