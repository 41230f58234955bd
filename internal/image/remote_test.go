package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/errdefs"
)

// testRegistry is ggcr's in-memory registry on 127.0.0.1 behind a hook
// that can answer requests itself.
type testRegistry struct {
	srv  *httptest.Server
	host string

	mu       sync.Mutex
	hook     func(w http.ResponseWriter, r *http.Request) bool
	requests []*http.Request
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr := &testRegistry{}
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		hook := tr.hook
		tr.requests = append(tr.requests, r.Clone(context.Background()))
		tr.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func (tr *testRegistry) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.hook = h
}

func (tr *testRegistry) seen() []*http.Request {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]*http.Request(nil), tr.requests...)
}

func (tr *testRegistry) reset() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.requests = nil
}

func (tr *testRegistry) push(t *testing.T, repoTag string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(tr.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// openRemote parses "docker://host/<rest>" and opens it.
func (tr *testRegistry) open(t *testing.T, rest string, opts RemoteOptions) (Source, error) {
	t.Helper()
	ref, err := ParseReference("docker://" + tr.host + "/" + rest)
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewRemote(context.Background(), ref, opts)
	if err == nil {
		t.Cleanup(func() { _ = src.Close() })
	}
	return src, err
}

var allowHTTP = RemoteOptions{AllowHTTP: true, UserAgent: "rkt-test/1"}

func TestRemotePullByTag(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 2)
	tr.push(t, "team/app:v1", img)
	tr.reset()

	src, err := tr.open(t, "team/app:v1", allowHTTP)
	if err != nil {
		t.Fatalf("NewRemote: %v", err)
	}
	r, err := src.Resolve(context.Background())
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if r.Name != tr.host+"/team/app:v1" {
		t.Errorf("name = %q", r.Name)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Manifest, raw) {
		t.Errorf("manifest bytes differ from the pushed ones")
	}
	checkImage(t, src, r, img)
	for _, req := range tr.seen() {
		if ua := req.Header.Get("User-Agent"); !strings.Contains(ua, "rkt-test/1") {
			t.Errorf("%s %s: User-Agent %q", req.Method, req.URL, ua)
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			t.Errorf("pull made a %s request to %s", req.Method, req.URL)
		}
	}
}

func TestRemotePullByDigest(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 1)
	tr.push(t, "app:v1", img)
	md, _, _ := imageDigests(t, img)

	src, err := tr.open(t, "app@"+md.String(), allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Resolve(context.Background())
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if r.Name != tr.host+"/app@"+md.String() {
		t.Errorf("name = %q", r.Name)
	}
	checkImage(t, src, r, img)

	// The registry answers a digest with other content.
	other := testImage(t, 1)
	otherRaw, err := other.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/app/manifests/"+md.String() {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		_, _ = w.Write(otherRaw)
		return true
	})
	_, err = src.Resolve(context.Background())
	wantErr(t, err, errdefs.KindDigestMismatch, "content digest is", md.String())
}

func TestRemotePullIndex(t *testing.T) {
	tr := newTestRegistry(t)
	mine := testImage(t, 1)
	other := withPlatformConfig(t, testImage(t, 1), "linux", otherArch())
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch()}}},
		mutate.IndexAddendum{Add: mine, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	ref, err := name.ParseReference(tr.host + "/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	src, err := tr.open(t, "multi", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Resolve(context.Background())
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	id, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if r.Index.String() != id.String() {
		t.Errorf("index = %s, want %s", r.Index, id)
	}
	checkImage(t, src, r, mine)
}

func TestRemoteNotFound(t *testing.T) {
	tr := newTestRegistry(t)
	src, err := tr.open(t, "nothing:here", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Resolve(context.Background())
	wantErr(t, err, errdefs.KindNotFound, "get manifest")
}

func TestRemoteRefusesPlainHTTP(t *testing.T) {
	tr := newTestRegistry(t)
	tr.push(t, "app:v1", testImage(t, 1))
	tr.reset()
	src, err := tr.open(t, "app:v1", RemoteOptions{})
	if err == nil {
		_, err = src.Resolve(context.Background())
	}
	wantErr(t, err, errdefs.KindUnknown, "--insecure-options=http", tr.host)
	if n := len(tr.seen()); n != 0 {
		t.Errorf("%d plain HTTP requests reached the registry", n)
	}
}

func TestRemoteNotARegistryRef(t *testing.T) {
	ref, err := ParseReference("oci:/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRemote(context.Background(), ref, allowHTTP); err == nil || !strings.Contains(err.Error(), "not a registry image") {
		t.Errorf("NewRemote(oci:) = %v", err)
	}
}

// countingServer counts its requests and the Authorization headers it sees.
type countingServer struct {
	srv   *httptest.Server
	hits  atomic.Int64
	auths atomic.Int64
}

func newCountingServer(t *testing.T, body []byte) *countingServer {
	c := &countingServer{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		if r.Header.Get("Authorization") != "" {
			c.auths.Add(1)
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func TestRemoteRefusesRedirectWithCredentials(t *testing.T) {
	tr := newTestRegistry(t)
	target := newCountingServer(t, []byte("{}"))
	loc := "http://user:s3cret@" + strings.TrimPrefix(target.srv.URL, "http://") + "/v2/app/manifests/v1"
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/app/manifests/v1" {
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
			return true
		}
		return false
	})
	src, err := tr.open(t, "app:v1", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Resolve(context.Background())
	wantErr(t, err, errdefs.KindUnknown, "refusing redirect", "the URL carries credentials")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// TestRemoteBlobRedirectDropsCredentials checks that a blob redirect to
// another host (a CDN) is followed without the registry's credentials.
func TestRemoteBlobRedirectDropsCredentials(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 1)
	tr.push(t, "app:v1", img)
	_, _, lds := imageDigests(t, img)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	cdn := newCountingServer(t, blob)

	const user, pass = "puller", "pw"
	var authed atomic.Int64
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/v2/") {
			return false
		}
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		authed.Add(1)
		if r.URL.Path == "/v2/app/blobs/"+lds[0].String() {
			http.Redirect(w, r, cdn.srv.URL+"/blob", http.StatusTemporaryRedirect)
			return true
		}
		return false
	})

	// Without credentials: permission denied.
	src, err := tr.open(t, "app:v1", allowHTTP)
	if err == nil {
		_, err = src.Resolve(context.Background())
	}
	wantErr(t, err, errdefs.KindPermission)

	kc := configKeychain{cfg: &config.Config{DockerAuth: map[string]config.DockerAuth{
		tr.host: {Registry: tr.host, Credentials: config.Credentials{User: user, Password: pass}},
	}}}
	opts := allowHTTP
	opts.Keychain = kc
	src, err = tr.open(t, "app:v1", opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Resolve(context.Background())
	if err != nil {
		t.Fatalf("Resolve with credentials: %v", err)
	}
	checkBlob(t, src, r.Layers[0])
	if authed.Load() == 0 {
		t.Errorf("the registry never saw the credentials")
	}
	if cdn.hits.Load() != 1 || cdn.auths.Load() != 0 {
		t.Errorf("CDN got %d requests, %d with an Authorization header; want 1 and 0", cdn.hits.Load(), cdn.auths.Load())
	}
}

func TestRemoteManifestTooLarge(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			tr := newTestRegistry(t)
			var written atomic.Int64
			done := make(chan struct{})
			tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v2/big/manifests/v1" {
					return false
				}
				defer close(done)
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				total := int64(64 << 20)
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(MaxManifestSize+1))
					total = MaxManifestSize + 1
				}
				chunk := bytes.Repeat([]byte(" "), 32<<10)
				for written.Load() < total {
					n, err := w.Write(chunk[:min(int64(len(chunk)), total-written.Load())])
					written.Add(int64(n))
					if err != nil {
						return true
					}
					if !chunked && written.Load() >= 64<<10 {
						// Stop early and wait: a client that reads it all hangs here.
						w.(http.Flusher).Flush()
						select {
						case <-r.Context().Done():
						case <-time.After(10 * time.Second):
						}
						return true
					}
				}
				return true
			})
			src, err := tr.open(t, "big:v1", allowHTTP)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = src.Resolve(context.Background())
			wantErr(t, err, errdefs.KindTooLarge, "limit")
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusing took %v", d)
			}
			src.Close()
			<-done
			if chunked && written.Load() >= 32<<20 {
				t.Errorf("server wrote %d bytes before the client gave up", written.Load())
			}
			if !chunked && written.Load() > 64<<10 {
				t.Errorf("server wrote %d bytes", written.Load())
			}
		})
	}
}

func TestRemoteBlobSize(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 1)
	tr.push(t, "app:v1", img)
	src, err := tr.open(t, "app:v1", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l := r.Layers[0]
	layers, _ := img.Layers()
	rc, _ := layers[0].Compressed()
	blob, _ := io.ReadAll(rc)
	rc.Close()
	if int64(len(blob)) != l.Size {
		t.Fatalf("test blob is %d bytes, manifest says %d", len(blob), l.Size)
	}
	blobPath := "/v2/app/blobs/" + l.Digest.String()
	ctx := context.Background()

	serve := func(body []byte, chunked bool) {
		tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != blobPath {
				return false
			}
			if !chunked {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			_, _ = w.Write(body[:1])
			w.(http.Flusher).Flush()
			_, _ = w.Write(body[1:])
			return true
		})
	}

	t.Run("content length larger", func(t *testing.T) {
		serve(append(append([]byte{}, blob...), "trailing"...), false)
		_, err := src.OpenBlob(ctx, l.Digest, l.Size)
		wantErr(t, err, errdefs.KindDigestMismatch, "registry sends "+strconv.Itoa(len(blob)+8)+" bytes, manifest says "+strconv.FormatInt(l.Size, 10))
	})
	t.Run("content length smaller", func(t *testing.T) {
		serve(blob[:len(blob)-1], false)
		_, err := src.OpenBlob(ctx, l.Digest, l.Size)
		wantErr(t, err, errdefs.KindDigestMismatch, "registry sends")
	})
	t.Run("chunked longer", func(t *testing.T) {
		serve(append(append([]byte{}, blob...), bytes.Repeat([]byte("x"), 1<<20)...), true)
		rc, err := src.OpenBlob(ctx, l.Digest, l.Size)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		wantErr(t, err, errdefs.KindTooLarge, "longer than its declared size")
		if n != l.Size {
			t.Errorf("read %d bytes, want %d", n, l.Size)
		}
	})
	t.Run("chunked shorter", func(t *testing.T) {
		serve(blob[:len(blob)-3], true)
		rc, err := src.OpenBlob(ctx, l.Digest, l.Size)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want unexpected EOF", err)
		}
	})
	t.Run("exact", func(t *testing.T) {
		serve(blob, false)
		checkBlob(t, src, l)
	})
	t.Run("invalid digest is not requested", func(t *testing.T) {
		tr.setHook(nil)
		tr.reset()
		for _, d := range []digest.Digest{"sha256:../../../v2/_catalog", "sha256:" + digest.Digest(strings.ToUpper(l.Digest.Encoded())), "", "sha256:abc?x=1"} {
			if rc, err := src.OpenBlob(ctx, d, 1); err == nil {
				rc.Close()
				t.Errorf("OpenBlob(%q) succeeded", d)
			}
		}
		if n := len(tr.seen()); n != 0 {
			t.Errorf("%d requests made for invalid digests", n)
		}
	})
	t.Run("missing blob", func(t *testing.T) {
		tr.setHook(nil)
		_, err := src.OpenBlob(ctx, digest.FromString("nope"), 4)
		wantErr(t, err, errdefs.KindNotFound, "get blob")
	})
}

// TestRemoteConfigTooLarge checks that the config is read with the size its
// descriptor gives, not what the registry sends.
func TestRemoteConfigTooLarge(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 1)
	tr.push(t, "app:v1", img)
	_, cd, _ := imageDigests(t, img)
	tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/app/blobs/"+cd.String() {
			return false
		}
		_, _ = w.Write(bytes.Repeat([]byte(" "), 1<<20))
		return true
	})
	src, err := tr.open(t, "app:v1", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Resolve(context.Background())
	wantErr(t, err, errdefs.KindTooLarge, "read config", "limit")
}

// TestRemoteDockerContentDigest checks that a manifest pulled by tag is
// checked against the Docker-Content-Digest the registry sends.
func TestRemoteDockerContentDigest(t *testing.T) {
	tr := newTestRegistry(t)
	img := testImage(t, 1)
	tr.push(t, "app:v1", img)
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	serveWith := func(header string) {
		tr.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v2/app/manifests/v1" {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			w.Header().Set("Docker-Content-Digest", header)
			_, _ = w.Write(raw)
			return true
		})
	}
	src, err := tr.open(t, "app:v1", allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	serveWith(digest.FromBytes(raw).String())
	if _, err := src.Resolve(ctx); err != nil {
		t.Errorf("matching Docker-Content-Digest: %v", err)
	}
	serveWith(digest.FromString("other").String())
	_, err = src.Resolve(ctx)
	wantErr(t, err, errdefs.KindDigestMismatch, "Docker-Content-Digest")
	serveWith("sha256:../../x")
	_, err = src.Resolve(ctx)
	wantErr(t, err, errdefs.KindUnknown, "invalid Docker-Content-Digest")
}
