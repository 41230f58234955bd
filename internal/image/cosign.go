package image

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/trust"
)

// Where cosign keeps an image's signatures in its registry (the legacy
// format that cosign 2 writes by default): the manifest of the tag
// "<alg>-<hex>.sig" of the same repository, one layer per signature, each
// layer a simple-signing payload with the base64 signature in an
// annotation. This file only reads them; internal/trust checks them.
const (
	// CosignSimpleSigningMediaType is a signature layer's media type.
	CosignSimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// CosignSignatureAnnotation holds a layer's base64 signature.
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	// MaxCosignManifestSize bounds a signature manifest.
	MaxCosignManifestSize = 1 << 20
	// MaxCosignSignatures bounds the signature layers read.
	MaxCosignSignatures = 64
)

// SignatureSource is a source that can read an image's cosign signatures.
type SignatureSource interface {
	// CosignSignatures reads the signatures of the manifest with digest d.
	// No signature tag is a KindNotFound error.
	CosignSignatures(ctx context.Context, d digest.Digest) ([]trust.CosignSignature, error)
}

// CosignTag is the tag cosign stores the signatures of manifest d under.
func CosignTag(d digest.Digest) string {
	return string(d.Algorithm()) + "-" + d.Encoded() + ".sig"
}

// cosignLayer is a signature layer as its manifest describes it.
type cosignLayer struct {
	Digest    digest.Digest
	Size      int64
	Signature string
}

// parseCosignManifest reads the signature layers of a signature manifest
// (an OCI or Docker schema 2 image manifest, its media type read as for
// any manifest). Other layers are skipped.
func parseCosignManifest(contentType string, raw []byte) ([]cosignLayer, error) {
	if len(raw) > MaxCosignManifestSize {
		return nil, errdefs.TooLarge(fmt.Errorf("signature manifest of %d bytes is over the %d byte limit", len(raw), MaxCosignManifestSize))
	}
	mt, err := mediaTypeOf(contentType, raw)
	if err != nil {
		return nil, fmt.Errorf("signature manifest: %w", err)
	}
	if !mt.IsImage() {
		return nil, fmt.Errorf("signature manifest: media type %q is not an image manifest", mt)
	}
	var m struct {
		Layers []struct {
			MediaType   string            `json:"mediaType"`
			Digest      string            `json:"digest"`
			Size        int64             `json:"size"`
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse signature manifest: %w", err)
	}
	var out []cosignLayer
	for i, l := range m.Layers {
		if l.MediaType != CosignSimpleSigningMediaType {
			continue
		}
		if len(out) == MaxCosignSignatures {
			return nil, errdefs.TooLarge(fmt.Errorf("signature manifest has more than %d signatures", MaxCosignSignatures))
		}
		d, err := checkDigest(fmt.Sprintf("signature layer %d", i), l.Digest)
		if err != nil {
			return nil, err
		}
		if l.Size <= 0 || l.Size > trust.MaxCosignPayloadSize {
			return nil, errdefs.TooLarge(fmt.Errorf("signature layer %s: size %d is not within 1 to %d bytes", d, l.Size, trust.MaxCosignPayloadSize))
		}
		sig := l.Annotations[CosignSignatureAnnotation]
		if len(sig) > trust.MaxCosignSignatureSize {
			return nil, errdefs.TooLarge(fmt.Errorf("signature layer %s: signature annotation over %d bytes", d, trust.MaxCosignSignatureSize))
		}
		out = append(out, cosignLayer{Digest: d, Size: l.Size, Signature: sig})
	}
	return out, nil
}

var cosignManifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1),
	string(types.DockerManifestSchema2),
}, ", ")

// CosignSignatures reads the signature manifest of d and the payloads of
// its signature layers, each checked against its digest.
func (s *remoteSource) CosignSignatures(ctx context.Context, d digest.Digest) ([]trust.CosignSignature, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d, err)
	}
	tag := CosignTag(d)
	where := s.ref.Context().Name() + ":" + tag
	resp, err := s.get(ctx, s.url("manifests", tag), cosignManifestAccept, http.StatusOK)
	if err != nil {
		if errdefs.Is(err, errdefs.KindNotFound) {
			return nil, errdefs.NotFound(fmt.Errorf("no cosign signature: %s not found", where))
		}
		return nil, fmt.Errorf("get signature manifest %s: %w", where, err)
	}
	ct := resp.Header.Get("Content-Type")
	raw, err := readLimited("signature manifest "+where, resp, MaxCosignManifestSize)
	if err != nil {
		return nil, err
	}
	layers, err := parseCosignManifest(ct, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	out := make([]trust.CosignSignature, 0, len(layers))
	for _, l := range layers {
		resp, err := s.get(ctx, s.url("blobs", l.Digest.String()), "", http.StatusOK)
		if err != nil {
			return nil, fmt.Errorf("get signature payload %s: %w", l.Digest, err)
		}
		b, err := readLimited("signature payload "+l.Digest.String(), resp, l.Size)
		if err != nil {
			return nil, err
		}
		if err := verify("signature payload "+l.Digest.String(), l.Digest, b); err != nil {
			return nil, err
		}
		out = append(out, trust.CosignSignature{Payload: b, Signature: l.Signature})
	}
	return out, nil
}
