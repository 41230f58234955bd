package image

import (
	"github.com/rkt/rkt/internal/trust"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// FuzzParseCosignManifest feeds the signature manifest parser (a registry
// answer: hostile) and checks what it accepts is bounded and names blobs
// by valid digests.
func FuzzParseCosignManifest(f *testing.F) {
	hex := strings.Repeat("a", 64)
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"` + CosignSimpleSigningMediaType + `","digest":"sha256:` + hex + `","size":10,"annotations":{"dev.cosignproject.cosign/signature":"c2ln"}}]}`,
		`{"schemaVersion":2,"layers":[{"mediaType":"` + CosignSimpleSigningMediaType + `","digest":"sha256:../x","size":1}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`, `{"schemaVersion":2} x`, `[]`, "",
	} {
		f.Add("", []byte(s))
	}
	f.Add("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8", []byte(`{"schemaVersion":2,"layers":null}`))
	f.Fuzz(func(t *testing.T, ct string, b []byte) {
		ls, err := parseCosignManifest(ct, b)
		if err != nil {
			if ls != nil {
				t.Fatalf("layers %+v returned with error %v", ls, err)
			}
			return
		}
		if len(ls) > MaxCosignSignatures {
			t.Fatalf("%d signatures accepted", len(ls))
		}
		for _, l := range ls {
			if err := l.Digest.Validate(); err != nil {
				t.Fatalf("invalid digest %q accepted: %v", l.Digest, err)
			}
			if a := l.Digest.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
				t.Fatalf("algorithm %q accepted", a)
			}
			if l.Size <= 0 || l.Size > trust.MaxCosignPayloadSize || len(l.Signature) > trust.MaxCosignSignatureSize {
				t.Fatalf("unbounded layer accepted: size %d, signature %d bytes", l.Size, len(l.Signature))
			}
		}
	})
}
