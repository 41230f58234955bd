package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Fault selects how an EvilRegistry misbehaves.
type Fault int

// Faults of an EvilRegistry. Blob faults hit layer blobs only unless they
// say otherwise; manifest faults hit manifest GETs (by tag and by digest).
const (
	// FaultNone serves the seeded images faithfully.
	FaultNone Fault = iota
	// FaultBlobDigestMismatch serves layer blobs whose bytes do not hash to
	// the digest asked for, with the right length. A gzip layer gets a
	// different gzip header MTIME, so it still decompresses to exactly the
	// expected tar (and diff ID): only a client that checks the compressed
	// digest notices.
	FaultBlobDigestMismatch
	// FaultConfigDigestMismatch serves the config blob with one digit
	// changed: valid JSON of the right length, wrong digest.
	FaultConfigDigestMismatch
	// FaultTruncatedBlob announces a layer blob's full Content-Length,
	// sends half of it and drops the connection.
	FaultTruncatedBlob
	// FaultShortBlob serves the first half of a layer blob as a complete
	// response (Content-Length of the half).
	FaultShortBlob
	// FaultHugeManifest streams a manifest of HugeManifestSize bytes
	// (whitespace, then the real manifest) without a Content-Length.
	FaultHugeManifest
	// FaultHugeManifestLength is FaultHugeManifest with a Content-Length of
	// HugeManifestSize.
	FaultHugeManifestLength
	// FaultManifestDigestMismatch serves manifest bytes that do not hash to
	// the digest asked for, nor to the Docker-Content-Digest header sent.
	FaultManifestDigestMismatch
	// FaultRedirectAuthLeak asks for basic auth (WWW-Authenticate: Basic)
	// and answers manifest and blob GETs with a 307 redirect to a second
	// server on another port, which serves the content without auth and
	// records whether any request to it carried an Authorization header
	// (LeakedAuth).
	FaultRedirectAuthLeak
	// FaultUnknownManifestMediaType serves, by tag, a manifest whose
	// mediaType field and Content-Type are an unknown media type.
	FaultUnknownManifestMediaType
	// FaultConfigNotJSON serves, by tag, a manifest whose config blob is
	// not JSON (its digest is right).
	FaultConfigNotJSON
	// FaultBadDigest serves, by tag, a manifest whose first layer digest is
	// not a digest but a path ("sha256:../../../../etc/passwd").
	FaultBadDigest
)

var faultNames = map[Fault]string{
	FaultNone:                     "none",
	FaultBlobDigestMismatch:       "blob-digest-mismatch",
	FaultConfigDigestMismatch:     "config-digest-mismatch",
	FaultTruncatedBlob:            "truncated-blob",
	FaultShortBlob:                "short-blob",
	FaultHugeManifest:             "huge-manifest",
	FaultHugeManifestLength:       "huge-manifest-length",
	FaultManifestDigestMismatch:   "manifest-digest-mismatch",
	FaultRedirectAuthLeak:         "redirect-auth-leak",
	FaultUnknownManifestMediaType: "unknown-manifest-media-type",
	FaultConfigNotJSON:            "config-not-json",
	FaultBadDigest:                "bad-digest",
}

// String returns the fault's name ("blob-digest-mismatch").
func (f Fault) String() string {
	if s, ok := faultNames[f]; ok {
		return s
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// AllFaults returns every fault but FaultNone, in declaration order.
func AllFaults() []Fault {
	var fs []Fault
	for f := FaultNone + 1; ; f++ {
		if _, ok := faultNames[f]; !ok {
			return fs
		}
		fs = append(fs, f)
	}
}

// Values used by an EvilRegistry.
const (
	// DefaultHugeManifestSize is the size of a huge manifest: 200 MiB.
	DefaultHugeManifestSize = 200 << 20
	// UnknownManifestMediaType is what FaultUnknownManifestMediaType serves.
	UnknownManifestMediaType = "application/vnd.rkt-testutil.evil.manifest.v1+json"
	// NotJSONConfig is the config blob that FaultConfigNotJSON serves.
	NotJSONConfig = "this is not JSON {\"os\":"
	// BadDigest is the layer digest that FaultBadDigest serves.
	BadDigest = "sha256:../../../../../../../../etc/passwd"
)

// EvilOptions configures StartEvilRegistry.
type EvilOptions struct {
	// Fault is the initial fault; SetFault changes it.
	Fault Fault
	// HugeManifestSize is the size of the manifest under FaultHugeManifest*
	// (default DefaultHugeManifestSize).
	HugeManifestSize int64
	// Username and Password are what the registry asks for under
	// FaultRedirectAuthLeak (default "evil-user", "evil-password").
	Username, Password string
	// BeforeBlob, when set, is called before each blob is served (GET and
	// HEAD), after the request is recorded; a test can hold a download
	// there until its other clients have caught up.
	BeforeBlob func(r *http.Request, digest string)
}

// EvilRegistry is an in-process registry on 127.0.0.1 that speaks enough of
// the distribution API (GET /v2/, manifests and blobs by tag and digest,
// GET and HEAD) to serve seeded images, and misbehaves as its Fault says.
// Its exported fields are read-only once it has started; change the fault
// with SetFault.
type EvilRegistry struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// URL is "http://Addr".
	URL string
	// RedirectURL is the second server's base URL, "http://127.0.0.1:PORT2",
	// where FaultRedirectAuthLeak sends clients.
	RedirectURL string
	// Username and Password are the credentials FaultRedirectAuthLeak wants.
	Username, Password string
	// HugeManifestSize is the size of huge manifests.
	HugeManifestSize int64

	beforeBlob func(r *http.Request, digest string)
	srv, other *httptest.Server

	mu        sync.Mutex
	fault     Fault
	tags      map[string]string // "repo:tag" -> digest
	manifests map[string]evilManifest
	blobs     map[string][]byte
	configs   map[string]bool             // digests of config blobs
	variants  map[Fault]map[string]string // fault -> original digest -> variant digest
	leaked    bool                        // the redirect target saw an Authorization header
	requests  []string                    // "METHOD PATH" seen by the registry
	redirects []string                    // "METHOD PATH" seen by the redirect target
}

type evilManifest struct {
	mediaType types.MediaType
	body      []byte
}

// StartEvilRegistry starts an EvilRegistry and its redirect target on two
// ports of 127.0.0.1; both close with t.Cleanup.
func StartEvilRegistry(t testing.TB, opts EvilOptions) *EvilRegistry {
	t.Helper()
	e := &EvilRegistry{
		Username:         opts.Username,
		Password:         opts.Password,
		HugeManifestSize: opts.HugeManifestSize,
		beforeBlob:       opts.BeforeBlob,
		fault:            opts.Fault,
		tags:             map[string]string{},
		manifests:        map[string]evilManifest{},
		blobs:            map[string][]byte{},
		configs:          map[string]bool{},
		variants:         map[Fault]map[string]string{},
	}
	if e.Username == "" {
		e.Username = "evil-user"
	}
	if e.Password == "" {
		e.Password = "evil-password"
	}
	if e.HugeManifestSize <= 0 {
		e.HugeManifestSize = DefaultHugeManifestSize
	}
	e.other = httptest.NewServer(http.HandlerFunc(e.serveRedirectTarget))
	e.srv = httptest.NewServer(http.HandlerFunc(e.serveRegistry))
	t.Cleanup(func() {
		// Drop connections first: a handler streaming a huge manifest to a
		// client that stopped reading would block Close.
		for _, s := range []*httptest.Server{e.srv, e.other} {
			s.CloseClientConnections()
			s.Close()
		}
	})
	e.URL = e.srv.URL
	e.Addr = strings.TrimPrefix(e.srv.URL, "http://")
	e.RedirectURL = e.other.URL
	return e
}

// SetFault changes the fault, for the requests that follow.
func (e *EvilRegistry) SetFault(f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fault = f
}

// Fault returns the current fault.
func (e *EvilRegistry) Fault() Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fault
}

// LeakedAuth reports whether any request to the redirect target carried an
// Authorization header.
func (e *EvilRegistry) LeakedAuth() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leaked
}

// Requests returns the requests the registry has seen ("GET /v2/...").
func (e *EvilRegistry) Requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.requests)
}

// RedirectRequests returns the requests the redirect target has seen.
func (e *EvilRegistry) RedirectRequests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.redirects)
}

// Transport returns a proxy-free HTTP transport that refuses to dial
// anything but 127.0.0.1.
func (e *EvilRegistry) Transport() *http.Transport { return newTransport(nil) }

// Ref returns "ADDR/repo:tag", or "ADDR/repo@tag" when tag is a digest.
func (e *EvilRegistry) Ref(repo, tag string) string {
	if strings.Contains(tag, ":") {
		return e.Addr + "/" + repo + "@" + tag
	}
	return e.Addr + "/" + repo + ":" + tag
}

// Seed stores img in repo under tag and returns its reference.
func (e *EvilRegistry) Seed(t testing.TB, repo, tag string, img v1.Image) string {
	t.Helper()
	d, err := e.addImage(img)
	if err != nil {
		t.Fatalf("testutil: seed evil registry: %v", err)
	}
	e.mu.Lock()
	e.tags[repo+":"+tag] = d
	e.mu.Unlock()
	return e.Ref(repo, tag)
}

// SeedIndex stores idx and its images in repo under tag and returns its
// reference.
func (e *EvilRegistry) SeedIndex(t testing.TB, repo, tag string, idx v1.ImageIndex) string {
	t.Helper()
	d, err := e.addIndex(idx)
	if err != nil {
		t.Fatalf("testutil: seed evil registry: %v", err)
	}
	e.mu.Lock()
	e.tags[repo+":"+tag] = d
	e.mu.Unlock()
	return e.Ref(repo, tag)
}

func (e *EvilRegistry) addImage(img v1.Image) (string, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return "", fmt.Errorf("media type: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("layers: %w", err)
	}
	blobs := map[string][]byte{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return "", fmt.Errorf("layer digest: %w", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", d, err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", d, err)
		}
		blobs[d.String()] = buf.Bytes()
	}
	cfgDigest := sha256Hash(cfg).String()
	d := sha256Hash(raw).String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, v := range blobs {
		e.blobs[k] = v
	}
	e.blobs[cfgDigest] = cfg
	e.configs[cfgDigest] = true
	e.manifests[d] = evilManifest{mediaType: mt, body: raw}
	return d, nil
}

func (e *EvilRegistry) addIndex(idx v1.ImageIndex) (string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return "", fmt.Errorf("index manifest: %w", err)
	}
	for _, desc := range im.Manifests {
		switch {
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return "", fmt.Errorf("index image %s: %w", desc.Digest, err)
			}
			if _, err := e.addImage(img); err != nil {
				return "", err
			}
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return "", fmt.Errorf("index child %s: %w", desc.Digest, err)
			}
			if _, err := e.addIndex(child); err != nil {
				return "", err
			}
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return "", fmt.Errorf("index manifest: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return "", fmt.Errorf("index media type: %w", err)
	}
	d := sha256Hash(raw).String()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.manifests[d] = evilManifest{mediaType: mt, body: raw}
	return d, nil
}

// variant returns the digest of the manifest that fault f serves instead of
// manifest d, creating and storing it on first use. Indexes get variants
// whose children are the children's variants. Called with e.mu held.
func (e *EvilRegistry) variant(f Fault, d string) string {
	if f != FaultUnknownManifestMediaType && f != FaultConfigNotJSON && f != FaultBadDigest {
		return d
	}
	if v, ok := e.variants[f][d]; ok {
		return v
	}
	m, ok := e.manifests[d]
	if !ok {
		return d
	}
	var doc map[string]any
	if err := json.Unmarshal(m.body, &doc); err != nil {
		return d
	}
	mt := m.mediaType
	switch {
	case mt.IsIndex():
		children, _ := doc["manifests"].([]any)
		for _, c := range children {
			desc, _ := c.(map[string]any)
			cd, _ := desc["digest"].(string)
			if vd := e.variant(f, cd); vd != cd {
				desc["digest"] = vd
				desc["size"] = len(e.manifests[vd].body)
				desc["mediaType"] = string(e.manifests[vd].mediaType)
			}
		}
	case f == FaultUnknownManifestMediaType:
		mt = UnknownManifestMediaType
		doc["mediaType"] = UnknownManifestMediaType
	case f == FaultConfigNotJSON:
		cfgDigest := sha256Hash([]byte(NotJSONConfig)).String()
		e.blobs[cfgDigest] = []byte(NotJSONConfig)
		e.configs[cfgDigest] = true
		cfg, _ := doc["config"].(map[string]any)
		if cfg == nil {
			return d
		}
		cfg["digest"] = cfgDigest
		cfg["size"] = len(NotJSONConfig)
	case f == FaultBadDigest:
		layers, _ := doc["layers"].([]any)
		if len(layers) == 0 {
			return d
		}
		if l, ok := layers[0].(map[string]any); ok {
			l["digest"] = BadDigest
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return d
	}
	v := sha256Hash(body).String()
	e.manifests[v] = evilManifest{mediaType: mt, body: body}
	if e.variants[f] == nil {
		e.variants[f] = map[string]string{}
	}
	e.variants[f][d] = v
	return v
}

// route splits "/v2/<name>/manifests/<ref>" or "/v2/<name>/blobs/<digest>".
func route(p string) (kind, repo, ref string) {
	if p == "/v2/" || p == "/v2" {
		return "base", "", ""
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", ""
	}
	for _, k := range []string{"manifests", "blobs"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			return k, rest[:i], rest[i+len(k)+2:]
		}
	}
	return "", "", ""
}

func (e *EvilRegistry) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && u == e.Username && p == e.Password
}

func (e *EvilRegistry) serveRegistry(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests = append(e.requests, r.Method+" "+r.URL.EscapedPath())
	fault := e.fault
	e.mu.Unlock()

	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "read-only registry")
		return
	}
	if fault == FaultRedirectAuthLeak && !e.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="rkt testutil evil registry"`)
		writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	kind, repo, ref := route(r.URL.Path)
	switch kind {
	case "base":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	case "manifests":
		e.serveManifest(w, r, fault, repo, ref)
	case "blobs":
		e.serveBlob(w, r, fault, ref)
	default:
		writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such endpoint")
	}
}

func (e *EvilRegistry) serveManifest(w http.ResponseWriter, r *http.Request, fault Fault, repo, ref string) {
	e.mu.Lock()
	d := ref
	if !strings.Contains(ref, ":") {
		d = e.tags[repo+":"+ref]
		d = e.variant(fault, d)
	}
	m, ok := e.manifests[d]
	e.mu.Unlock()
	if !ok {
		writeRegistryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	if fault == FaultRedirectAuthLeak && r.Method == http.MethodGet {
		//nolint:gosec // G710: redirecting to our own second test server is what this fault is for
		http.Redirect(w, r, e.RedirectURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	}
	h := w.Header()
	h.Set("Content-Type", string(m.mediaType))
	switch fault {
	case FaultHugeManifest, FaultHugeManifestLength:
		size := max(e.HugeManifestSize, int64(len(m.body)))
		if fault == FaultHugeManifestLength {
			h.Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		streamPadded(w, r, size, m.body)
		return
	case FaultManifestDigestMismatch:
		// Same JSON, one more space: a different digest.
		body := append([]byte(" "), m.body...)
		h.Set("Docker-Content-Digest", d)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
		return
	}
	h.Set("Docker-Content-Digest", d)
	h.Set("Content-Length", strconv.Itoa(len(m.body)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(m.body)
	}
}

// streamPadded writes size bytes: whitespace, then tail, without holding
// them in memory, until the client goes away.
func streamPadded(w http.ResponseWriter, r *http.Request, size int64, tail []byte) {
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	pad := size - int64(len(tail))
	for pad > 0 {
		if r.Context().Err() != nil {
			return
		}
		n := min(pad, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		pad -= n
	}
	_, _ = w.Write(tail)
}

func (e *EvilRegistry) serveBlob(w http.ResponseWriter, r *http.Request, fault Fault, d string) {
	e.mu.Lock()
	b, ok := e.blobs[d]
	isConfig := e.configs[d]
	e.mu.Unlock()
	if !ok {
		writeRegistryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
		return
	}
	if e.beforeBlob != nil {
		e.beforeBlob(r, d)
	}
	if fault == FaultRedirectAuthLeak && r.Method == http.MethodGet {
		//nolint:gosec // G710: redirecting to our own second test server is what this fault is for
		http.Redirect(w, r, e.RedirectURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d)
	switch {
	case fault == FaultBlobDigestMismatch && !isConfig:
		b = corruptLayer(b)
	case fault == FaultConfigDigestMismatch && isConfig:
		b = corruptJSON(b)
	case fault == FaultShortBlob && !isConfig:
		b = b[:len(b)/2]
	case fault == FaultTruncatedBlob && !isConfig:
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b[:len(b)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		// Abort: the server drops the connection mid-body.
		panic(http.ErrAbortHandler)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// corruptLayer returns a copy of b, same length, different bytes. A gzip
// stream stays a valid gzip stream of the same content (only the header
// MTIME changes).
func corruptLayer(b []byte) []byte {
	c := bytes.Clone(b)
	switch {
	case len(c) >= 10 && c[0] == 0x1f && c[1] == 0x8b:
		c[4] ^= 0x01
	case len(c) > 0:
		c[len(c)-1] ^= 0xff
	}
	return c
}

// corruptJSON returns a copy of b with its first digit changed (still valid
// JSON), or its last byte flipped when it has no digit.
func corruptJSON(b []byte) []byte {
	c := bytes.Clone(b)
	if i := bytes.IndexAny(c, "0123456789"); i >= 0 {
		if c[i] == '0' {
			c[i] = '1'
		} else {
			c[i] = '0'
		}
	} else if len(c) > 0 {
		c[len(c)-1] ^= 0xff
	}
	return c
}

// serveRedirectTarget serves the same content as the registry, without
// auth, and records whether a request carried an Authorization header.
func (e *EvilRegistry) serveRedirectTarget(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.redirects = append(e.redirects, r.Method+" "+r.URL.EscapedPath())
	if r.Header.Get("Authorization") != "" {
		e.leaked = true
	}
	e.mu.Unlock()

	kind, repo, ref := route(r.URL.Path)
	switch kind {
	case "manifests":
		e.serveManifest(w, r, FaultNone, repo, ref)
	case "blobs":
		e.serveBlob(w, r, FaultNone, ref)
	default:
		writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such endpoint")
	}
}
