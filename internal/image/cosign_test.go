package image

import (
	"context"
	"github.com/rkt/rkt/internal/trust"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/testutil"
)

func TestCosignSignatures(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 1)
	tr.push(t, "team/app:v1", img)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	key := testutil.NewCosignSigner(t)
	p1 := testutil.CosignPayload(t, tr.host+"/team/app", d)
	p2 := testutil.CosignPayload(t, tr.host+"/team/other", d)
	sig1 := key.Sign(t, p1)
	sigImg := testutil.CosignSignatureImage(t, testutil.CosignLayer{Payload: p1, Signature: sig1}, testutil.CosignLayer{Payload: p2})
	if got, want := CosignTag(digest.Digest(d.String())), testutil.CosignTag(d); got != want {
		t.Fatalf("CosignTag = %s, want %s", got, want)
	}

	src, err := tr.open(t, "team/app:v1", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	ss := src.(SignatureSource)
	// No signature tag yet.
	_, err = ss.CosignSignatures(context.Background(), digest.Digest(d.String()))
	if !errdefs.Is(err, errdefs.KindNotFound) || !strings.Contains(err.Error(), "no cosign signature: "+tr.host+"/team/app:"+testutil.CosignTag(d)+" not found") {
		t.Fatalf("unsigned: %v", err)
	}

	tr.push(t, "team/app:"+testutil.CosignTag(d), sigImg)
	sigs, err := ss.CosignSignatures(context.Background(), digest.Digest(d.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || string(sigs[0].Payload) != string(p1) || sigs[0].Signature != sig1 || string(sigs[1].Payload) != string(p2) || sigs[1].Signature != "" {
		t.Fatalf("signatures: %+v", sigs)
	}

	// A registry that serves another payload than the manifest names.
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
			sl, _ := sigImg.Layers()
			ld, _ := sl[0].Digest()
			if strings.HasSuffix(r.URL.Path, ld.String()) {
				_, _ = w.Write(append([]byte(nil), p2[:len(p1)]...))
				return true
			}
		}
		return false
	})
	_, err = ss.CosignSignatures(context.Background(), digest.Digest(d.String()))
	if !errdefs.Is(err, errdefs.KindDigestMismatch) {
		t.Fatalf("swapped payload: %v", err)
	}
	// A signature manifest that is an index.
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/sha256-") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			_, _ = w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
			return true
		}
		return false
	})
	_, err = ss.CosignSignatures(context.Background(), digest.Digest(d.String()))
	if err == nil || !strings.Contains(err.Error(), "is not an image manifest") {
		t.Fatalf("index as signature manifest: %v", err)
	}
	if _, err := ss.CosignSignatures(context.Background(), "sha256:../x"); err == nil {
		t.Fatal("an invalid digest was accepted")
	}
}

func TestParseCosignManifest(t *testing.T) {
	hex := strings.Repeat("a", 64)
	layer := func(mt, dg string, size int, sig string) string {
		return `{"mediaType":"` + mt + `","digest":"` + dg + `","size":` + strconv.Itoa(size) + `,"annotations":{"dev.cosignproject.cosign/signature":"` + sig + `"}}`
	}
	good := layer(CosignSimpleSigningMediaType, "sha256:"+hex, 10, "c2ln")
	doc := func(layers ...string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[` + strings.Join(layers, ",") + `]}`
	}
	for _, c := range []struct {
		name, ct, in string
		n            int
		err          string
	}{
		{"one", "", doc(good), 1, ""},
		{"docker media type", "application/vnd.docker.distribution.manifest.v2+json", `{"schemaVersion":2,"layers":[` + good + `]}`, 1, ""},
		{"other layers skipped", "", doc(layer("application/vnd.oci.image.layer.v1.tar", "sha256:"+hex, 10, ""), good), 1, ""},
		{"no layers", "", doc(), 0, ""},
		{"trailing junk", "", doc(good) + "{}", 0, "after top-level value"},
		{"schema 1", "", `{"schemaVersion":1,"layers":[]}`, 0, "schema 1 manifests are not supported"},
		{"schema 3", "", strings.Replace(doc(good), `"schemaVersion":2`, `"schemaVersion":3`, 1), 0, "unsupported manifest schemaVersion 3"},
		{"media types differ", "application/vnd.docker.distribution.manifest.v2+json", doc(good), 0, "does not match"},
		{"no media type", "", `{"schemaVersion":2,"layers":[` + good + `]}`, 0, "unsupported manifest media type"},
		{"sha512", "", doc(layer(CosignSimpleSigningMediaType, "sha512:"+hex+hex, 10, "c2ln")), 1, ""},
		{"index", "application/vnd.oci.image.index.v1+json", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`, 0, "not an image manifest"},
		{"bad digest", "", doc(layer(CosignSimpleSigningMediaType, "sha256:../../x", 10, "")), 0, "invalid digest"},
		{"md5", "", doc(layer(CosignSimpleSigningMediaType, "md5:"+hex[:32], 10, "")), 0, "invalid digest"},
		{"sha384", "", doc(layer(CosignSimpleSigningMediaType, "sha384:"+hex+hex[:32], 10, "")), 0, "unsupported digest algorithm"},
		{"zero size", "", doc(layer(CosignSimpleSigningMediaType, "sha256:"+hex, 0, "")), 0, "not within"},
		{"huge size", "", doc(layer(CosignSimpleSigningMediaType, "sha256:"+hex, trust.MaxCosignPayloadSize+1, "")), 0, "not within"},
		{"huge annotation", "", doc(layer(CosignSimpleSigningMediaType, "sha256:"+hex, 10, strings.Repeat("A", trust.MaxCosignSignatureSize+1))), 0, "annotation over"},
		{"too many", "", doc(strings.TrimSuffix(strings.Repeat(good+",", MaxCosignSignatures+1), ",")), 0, "more than 64 signatures"},
		{"not JSON", "", "nope", 0, "signature manifest: parse manifest"},
		{"layers not a list", "", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":{}}`, 0, "parse signature manifest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ls, err := parseCosignManifest(c.ct, []byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(ls) != c.n {
				t.Fatalf("got %d layers, %v; want %d", len(ls), err, c.n)
			}
			for _, l := range ls {
				if l.Signature != "c2ln" || l.Size != 10 {
					t.Errorf("layer %+v", l)
				}
			}
		})
	}
}
