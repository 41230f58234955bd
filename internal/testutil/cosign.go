package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The names of cosign's legacy signature format, written out here so that
// tests do not trust the code's own constants.
const (
	CosignSimpleSigningMediaType = types.MediaType("application/vnd.dev.cosign.simplesigning.v1+json")
	CosignSignatureAnnotation    = "dev.cosignproject.cosign/signature"
)

// CosignSigner is an ECDSA P-256 key, the kind cosign generate-key-pair
// makes.
type CosignSigner struct {
	Key *ecdsa.PrivateKey
}

// NewCosignSigner makes a key.
func NewCosignSigner(t testing.TB) *CosignSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &CosignSigner{Key: k}
}

// PublicPEM is the public key as cosign writes cosign.pub.
func (s *CosignSigner) PublicPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Fingerprint is the SHA-256 of the public key's DER, as "sha256:<hex>".
func (s *CosignSigner) Fingerprint(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Sign returns the base64 ASN.1 ECDSA signature of payload's SHA-256, as
// cosign stores it in the signature annotation.
func (s *CosignSigner) Sign(t testing.TB, payload []byte) string {
	t.Helper()
	sum := sha256.Sum256(payload)
	sig, err := s.Key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// CosignPayload is the simple-signing payload cosign signs for the manifest
// digest d in repository repo ("127.0.0.1:5000/busybox", no tag).
func CosignPayload(t testing.TB, repo string, d v1.Hash) []byte {
	t.Helper()
	var p struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
		Optional map[string]any `json:"optional"`
	}
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = d.String()
	p.Critical.Type = "cosign container image signature"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CosignLayer is one signature of a signature image.
type CosignLayer struct {
	Payload []byte
	// Signature is the base64 annotation value; empty leaves it out.
	Signature string
}

// CosignSignatureImage is the image cosign pushes to the signature tag
// (CosignTag): an OCI manifest with one simple-signing layer per signature.
func CosignSignatureImage(t testing.TB, sigs ...CosignLayer) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, s := range sigs {
		add := mutate.Addendum{Layer: static.NewLayer(s.Payload, CosignSimpleSigningMediaType), MediaType: CosignSimpleSigningMediaType}
		if s.Signature != "" {
			add.Annotations = map[string]string{CosignSignatureAnnotation: s.Signature}
		}
		var err error
		if img, err = mutate.Append(img, add); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// CosignTag is the tag cosign stores the signatures of manifest d under.
func CosignTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".sig" }
