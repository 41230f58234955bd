package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func evilRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetchAll pulls ref with ggcr and reads every blob through its verifying
// readers; it returns the first error.
func fetchAll(t *testing.T, ref string, opts ...remote.Option) (v1.Image, error) {
	t.Helper()
	opts = append(opts, remote.WithTransport(newTransport(nil)))
	img, err := remote.Image(evilRef(t, ref), opts...)
	if err != nil {
		return nil, err
	}
	if _, err := img.ConfigFile(); err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

func TestEvilRegistryFaults(t *testing.T) {
	t.Parallel()
	img := smallImage(t)
	want := Digest(t, img)

	cases := []struct {
		fault   Fault
		byTag   bool   // fetch by tag instead of by digest
		wantErr string // substring of the ggcr error; "" for success
	}{
		{FaultNone, true, ""},
		{FaultNone, false, ""},
		{FaultBlobDigestMismatch, false, "error verifying sha256 checksum"},
		{FaultConfigDigestMismatch, false, "error verifying sha256 checksum"},
		{FaultTruncatedBlob, false, "unexpected EOF"},
		{FaultShortBlob, false, "does not match expected size"},
		{FaultHugeManifest, true, "exceeds"},
		{FaultManifestDigestMismatch, false, "does not match"},
		{FaultConfigNotJSON, true, "invalid character"},
		{FaultBadDigest, true, "non-hex character"},
	}
	for _, tc := range cases {
		name := tc.fault.String()
		if tc.byTag {
			name += "/by-tag"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := StartEvilRegistry(t, EvilOptions{Fault: tc.fault})
			ref := e.Seed(t, "evil/app", "v1", img)
			if !tc.byTag {
				ref = e.Ref("evil/app", want.String())
			}
			got, err := fetchAll(t, ref)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if d := Digest(t, got); d != want {
					t.Fatalf("digest %s, want %s", d, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("fetch under %v succeeded", tc.fault)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("fetch under %v: error %q, want it to contain %q", tc.fault, err, tc.wantErr)
			}
		})
	}
}

func TestEvilRegistryRawFaults(t *testing.T) {
	t.Parallel()
	img := smallImage(t)
	e := StartEvilRegistry(t, EvilOptions{HugeManifestSize: 8 << 20})
	e.Seed(t, "raw/app", "v1", img)
	client := &http.Client{Transport: newTransport(nil)}
	// get returns the answer's headers and Content-Length (-1: none), and
	// as much of the body as came.
	type answer struct {
		header        http.Header
		contentLength int64
	}
	get := func(path string) (answer, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("GET %s: read: %v", path, err)
		}
		return answer{resp.Header, resp.ContentLength}, b
	}

	e.SetFault(FaultHugeManifest)
	ans, body := get("/v2/raw/app/manifests/v1")
	if ans.contentLength != -1 || int64(len(body)) != e.HugeManifestSize {
		t.Fatalf("huge manifest: Content-Length %d, %d bytes; want none and %d", ans.contentLength, len(body), e.HugeManifestSize)
	}
	e.SetFault(FaultHugeManifestLength)
	ans, body = get("/v2/raw/app/manifests/v1")
	if ans.contentLength != e.HugeManifestSize || int64(len(body)) != e.HugeManifestSize {
		t.Fatalf("huge manifest with length: Content-Length %d, %d bytes; want %d", ans.contentLength, len(body), e.HugeManifestSize)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld := Digest(t, layers[0])
	size, _ := layers[0].Size()
	e.SetFault(FaultTruncatedBlob)
	ans, body = get("/v2/raw/app/blobs/" + ld.String())
	if ans.contentLength != size || int64(len(body)) >= size {
		t.Fatalf("truncated blob: Content-Length %d, got %d bytes; want %d and fewer", ans.contentLength, len(body), size)
	}
	e.SetFault(FaultShortBlob)
	ans, body = get("/v2/raw/app/blobs/" + ld.String())
	if ans.contentLength != int64(len(body)) || int64(len(body)) != size/2 {
		t.Fatalf("short blob: Content-Length %d, %d bytes; want %d", ans.contentLength, len(body), size/2)
	}
	e.SetFault(FaultBlobDigestMismatch)
	_, body = get("/v2/raw/app/blobs/" + ld.String())
	if int64(len(body)) != size || sha256Hash(body) == ld {
		t.Fatalf("digest mismatch blob: %d bytes, digest %s; want %d bytes, not %s", len(body), sha256Hash(body), size, ld)
	}

	e.SetFault(FaultUnknownManifestMediaType)
	ans, body = get("/v2/raw/app/manifests/v1")
	var m struct{ MediaType string }
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if ct := ans.header.Get("Content-Type"); ct != UnknownManifestMediaType || m.MediaType != UnknownManifestMediaType {
		t.Fatalf("unknown media type: Content-Type %q, mediaType %q", ct, m.MediaType)
	}
	if dcd := ans.header.Get("Docker-Content-Digest"); dcd != sha256Hash(body).String() {
		t.Fatalf("unknown media type: Docker-Content-Digest %s, body %s", dcd, sha256Hash(body))
	}

	e.SetFault(FaultManifestDigestMismatch)
	ans, body = get("/v2/raw/app/manifests/" + Digest(t, img).String())
	if dcd := ans.header.Get("Docker-Content-Digest"); dcd != Digest(t, img).String() || sha256Hash(body) == Digest(t, img) {
		t.Fatalf("manifest digest mismatch: header %s, body %s", dcd, sha256Hash(body))
	}
}

// naiveClient is what a careless client does: it sends the credentials on
// every request, and copies them onto redirects whatever the target.
func naiveClient(user, password string) *http.Client {
	return &http.Client{
		Transport: newTransport(nil),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			req.Header = via[0].Header.Clone()
			return nil
		},
	}
}

func TestEvilRegistryRedirectLeak(t *testing.T) {
	t.Parallel()
	img := smallImage(t)

	t.Run("naive", func(t *testing.T) {
		t.Parallel()
		e := StartEvilRegistry(t, EvilOptions{Fault: FaultRedirectAuthLeak})
		e.Seed(t, "leak/app", "v1", img)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.URL+"/v2/leak/app/manifests/v1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(e.Username, e.Password)
		resp, err := naiveClient(e.Username, e.Password).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("naive GET: %s", resp.Status)
		}
		if !e.LeakedAuth() {
			t.Fatalf("naive client did not leak; redirect target saw %v", e.RedirectRequests())
		}
	})

	t.Run("ggcr", func(t *testing.T) {
		t.Parallel()
		e := StartEvilRegistry(t, EvilOptions{Fault: FaultRedirectAuthLeak})
		ref := e.Seed(t, "leak/app", "v1", img)
		// Without credentials the registry refuses.
		if _, err := fetchAll(t, ref); err == nil {
			t.Fatal("anonymous fetch succeeded")
		}
		got, err := fetchAll(t, ref, remote.WithAuth(&authn.Basic{Username: e.Username, Password: e.Password}))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if Digest(t, got) != Digest(t, img) {
			t.Fatal("wrong image")
		}
		if len(e.RedirectRequests()) == 0 {
			t.Fatal("no request was redirected")
		}
		if e.LeakedAuth() {
			t.Fatalf("ggcr leaked credentials to the redirect target")
		}
	})
}

func TestEvilRegistryIndex(t *testing.T) {
	t.Parallel()
	idx := MultiArchIndex(t, map[string]v1.Image{
		"linux/amd64":    smallImage(t),
		"linux/arm64/v8": Image(t, v1.Config{Cmd: []string{"/arm"}}, Layer(t, []TarEntry{File("arm", 0o755, "arm\n")}, Gzip)),
	})
	e := StartEvilRegistry(t, EvilOptions{})
	ref := e.SeedIndex(t, "multi/app", "v1", idx)
	for _, p := range []string{"linux/amd64", "linux/arm64/v8"} {
		plat := parsePlatform(t, p)
		img, err := remote.Image(evilRef(t, ref), remote.WithPlatform(plat), remote.WithTransport(newTransport(nil)))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got, want := Digest(t, img), Digest(t, PlatformImage(t, idx, p)); got != want {
			t.Fatalf("%s: digest %s, want %s", p, got, want)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != plat.Architecture || cf.Variant != plat.Variant {
			t.Fatalf("%s: config says %s/%s", p, cf.Architecture, cf.Variant)
		}
	}
	// Index variants: the child reached by tag under FaultConfigNotJSON has
	// a config that is not JSON.
	e.SetFault(FaultConfigNotJSON)
	img, err := remote.Image(evilRef(t, ref), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}), remote.WithTransport(newTransport(nil)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, []byte(NotJSONConfig)) {
		t.Fatalf("config %q, want %q", raw, NotJSONConfig)
	}
}

func TestAllFaults(t *testing.T) {
	fs := AllFaults()
	if len(fs) != len(faultNames)-1 || fs[0] != FaultBlobDigestMismatch {
		t.Fatalf("AllFaults() = %v", fs)
	}
}
