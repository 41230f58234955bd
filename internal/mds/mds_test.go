package mds

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/mds/mdsclient"
)

const (
	uuidA  = "6f4d2d4e-4a6b-4d4c-9a1e-0c6c2f0e9a11"
	uuidB  = "7a2b8c1d-1111-4222-8333-944455556666"
	tokenA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokenB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// podManifest is a pod of one app "web" (image annotations overridden by
// one app annotation) and, for pod B, an app "db".
func podManifest(app string) string {
	return `{"acKind":"PodManifest","acVersion":"0.8.11",
	"apps":[{"name":"` + app + `","image":{"name":"example.com/` + app + `","id":"sha512-` + strings.Repeat("1", 128) + `"},
	  "annotations":[{"name":"lorem","value":"pod"},{"name":"extra","value":"x"}]}],
	"annotations":[{"name":"example.com/owner","value":"alice"},{"name":"zone","value":"a"}]}`
}

const imageManifest = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/web",
	"annotations":[{"name":"lorem","value":"ipsum"},{"name":"homepage","value":"https://example.com"}]}`

// newTestService registers pod A (app web) and pod B (app db).
func newTestService(t *testing.T) *Service {
	t.Helper()
	s, err := NewService(18112, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	reg := s.RegistrationHandler()
	for _, c := range []struct{ uuid, token, app string }{{uuidA, tokenA, "web"}, {uuidB, tokenB, "db"}} {
		if w := do(reg, "PUT", "/pods/"+c.uuid+"?token="+c.token, podManifest(c.app), ""); w.Code != 200 {
			t.Fatalf("register pod: %d %s", w.Code, w.Body)
		}
		if w := do(reg, "PUT", "/pods/"+c.uuid+"/"+c.app, strings.ReplaceAll(imageManifest, "web", c.app), ""); w.Code != 200 {
			t.Fatalf("register app: %d %s", w.Code, w.Body)
		}
	}
	return s
}

func do(h http.Handler, method, target, body, contentType string) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(context.Background(), method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPublicAPI(t *testing.T) {
	s := newTestService(t)
	pub := s.PublicHandler()
	base := "/" + tokenA + "/acMetadata/v1/"
	imageID := "sha512-" + strings.Repeat("1", 128)
	tests := []struct {
		name, method, path string
		code               int
		ctype, body        string
	}{
		{"pod uuid", "GET", base + "pod/uuid", 200, contentText, uuidA},
		{"pod annotations", "GET", base + "pod/annotations", 200, contentJSON, `[{"name":"example.com/owner","value":"alice"},{"name":"zone","value":"a"}]`},
		{"pod annotations slash", "GET", base + "pod/annotations/", 200, contentJSON, `[{"name":"example.com/owner","value":"alice"},{"name":"zone","value":"a"}]`},
		{"pod annotation with slash", "GET", base + "pod/annotations/example.com/owner", 200, contentText, "alice"},
		{"pod annotation", "GET", base + "pod/annotations/zone", 200, contentText, "a"},
		{"pod annotation missing", "GET", base + "pod/annotations/nope", 404, "", ""},
		{"pod annotation bad name", "GET", base + "pod/annotations/Bad..Name", 400, "", ""},
		{"app annotations merged", "GET", base + "apps/web/annotations", 200, contentJSON, `[{"name":"lorem","value":"pod"},{"name":"homepage","value":"https://example.com"},{"name":"extra","value":"x"}]`},
		{"app annotation override", "GET", base + "apps/web/annotations/lorem", 200, contentText, "pod"},
		{"app annotation from image", "GET", base + "apps/web/annotations/homepage", 200, contentText, "https://example.com"},
		{"app image id", "GET", base + "apps/web/image/id", 200, contentText, imageID},
		{"app image manifest", "GET", base + "apps/web/image/manifest", 200, contentJSON, ""},
		{"HEAD is GET", "HEAD", base + "pod/uuid", 200, contentText, ""},
		// No leaks between pods: pod A's token does not reach pod B's app.
		{"other pod's app", "GET", base + "apps/db/image/id", 404, "", ""},
		{"bad app name", "GET", base + "apps/WEB/image/id", 400, "", ""},
		{"unknown token", "GET", "/" + tokenB[:40] + strings.Repeat("c", 24) + "/acMetadata/v1/pod/uuid", 401, "", ""},
		{"short token", "GET", "/abc/acMetadata/v1/pod/uuid", 401, "", ""},
		{"token prefix", "GET", "/" + tokenA[:63] + "/acMetadata/v1/pod/uuid", 401, "", ""},
		{"no token", "GET", "/acMetadata/v1/pod/uuid", 404, "", ""},
		{"unknown endpoint", "GET", base + "pod/secrets", 404, "", ""},
		{"traversal", "GET", base + "apps/web/../../pod/uuid", 404, "", ""},
		{"dot segment", "GET", base + "pod/./uuid", 404, "", ""},
		{"double slash", "GET", base + "pod//uuid", 404, "", ""},
		{"escaped slash", "GET", base + "pod%2Fuuid", 404, "", ""},
		{"trailing junk", "GET", base + "pod/uuid/x", 404, "", ""},
		{"wrong version", "GET", "/" + tokenA + "/acMetadata/v2/pod/uuid", 404, "", ""},
		{"wrong method", "POST", base + "pod/uuid", 405, "", ""},
		{"sign by GET", "GET", base + "pod/hmac/sign", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(pub, tc.method, tc.path, "", "")
			if w.Code != tc.code {
				t.Fatalf("%s %s: code %d, want %d (%s)", tc.method, tc.path, w.Code, tc.code, w.Body)
			}
			if tc.ctype != "" && w.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", w.Header().Get("Content-Type"), tc.ctype)
			}
			if tc.body != "" && w.Body.String() != tc.body {
				t.Errorf("body %q, want %q", w.Body, tc.body)
			}
			if tc.code == 401 && strings.Contains(w.Body.String(), uuidA) {
				t.Errorf("a refused request got pod data: %s", w.Body)
			}
		})
	}
	// The manifests round-trip as appc schema.
	var pm schema.PodManifest
	if err := json.Unmarshal(do(pub, "GET", base+"pod/manifest", "", "").Body.Bytes(), &pm); err != nil || len(pm.Apps) != 1 || pm.Apps[0].Name != "web" {
		t.Fatalf("pod manifest: %v %+v", err, pm)
	}
	var annots types.Annotations
	if err := json.Unmarshal(do(pub, "GET", base+"pod/annotations", "", "").Body.Bytes(), &annots); err != nil || !reflect.DeepEqual(annots, pm.Annotations) {
		t.Errorf("pod annotations %v differ from the manifest's %v (%v)", annots, pm.Annotations, err)
	}
	var im schema.ImageManifest
	if err := json.Unmarshal(do(pub, "GET", base+"apps/web/image/manifest", "", "").Body.Bytes(), &im); err != nil || im.Name != "example.com/web" {
		t.Fatalf("image manifest: %v %+v", err, im)
	}
}

func TestHMAC(t *testing.T) {
	s := newTestService(t)
	pub := s.PublicHandler()
	const form = "application/x-www-form-urlencoded"
	sign := func(token, content string) *httptest.ResponseRecorder {
		return do(pub, "POST", "/"+token+"/acMetadata/v1/pod/hmac/sign", url.Values{"content": {content}}.Encode(), form)
	}
	w := sign(tokenA, "Old MacDonald Had A Farm")
	if w.Code != 200 || w.Header().Get("Content-Type") != contentText {
		t.Fatalf("sign: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	sigA := w.Body.String()
	if raw, err := base64.StdEncoding.DecodeString(sigA); err != nil || len(raw) != 64 {
		t.Fatalf("signature %q is not a base64 HMAC-SHA512: %v", sigA, err)
	}
	sigB := sign(tokenB, "Old MacDonald Had A Farm").Body.String()
	if sigB == sigA {
		t.Fatal("two pods sign the same content alike: the signature does not carry the pod's identity")
	}
	verify := func(token string, v url.Values) int {
		return do(pub, "POST", "/"+token+"/acMetadata/v1/pod/hmac/verify", v.Encode(), form).Code
	}
	tests := []struct {
		name string
		form url.Values
		code int
	}{
		{"own signature", url.Values{"content": {"Old MacDonald Had A Farm"}, "uuid": {uuidA}, "signature": {sigA}}, 200},
		{"other pod's signature", url.Values{"content": {"Old MacDonald Had A Farm"}, "uuid": {uuidB}, "signature": {sigB}}, 200},
		{"signature of another pod", url.Values{"content": {"Old MacDonald Had A Farm"}, "uuid": {uuidB}, "signature": {sigA}}, 403},
		{"other content", url.Values{"content": {"Old MacDonald Had A Cow"}, "uuid": {uuidA}, "signature": {sigA}}, 403},
		{"bad base64", url.Values{"content": {"x"}, "uuid": {uuidA}, "signature": {"!!"}}, 400},
		{"bad uuid", url.Values{"content": {"x"}, "uuid": {"nope"}, "signature": {sigA}}, 400},
		{"no content", url.Values{"uuid": {uuidA}, "signature": {sigA}}, 400},
		{"two contents", url.Values{"content": {"a", "b"}, "uuid": {uuidA}, "signature": {sigA}}, 400},
	}
	for _, tc := range tests {
		if got := verify(tokenB, tc.form); got != tc.code {
			t.Errorf("%s: verify answered %d, want %d", tc.name, got, tc.code)
		}
	}
	if w := sign(tokenA, ""); w.Code != 400 {
		t.Errorf("empty content: %d", w.Code)
	}
	if w := do(pub, "POST", "/"+tokenA+"/acMetadata/v1/pod/hmac/sign", "content="+strings.Repeat("a", maxForm+10), form); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d", w.Code)
	}
	// Another service (another key) does not verify this one's signatures.
	s2 := newTestService(t)
	if w := do(s2.PublicHandler(), "POST", "/"+tokenA+"/acMetadata/v1/pod/hmac/verify", url.Values{"content": {"Old MacDonald Had A Farm"}, "uuid": {uuidA}, "signature": {sigA}}.Encode(), form); w.Code != 403 {
		t.Errorf("a signature verified against another service's key: %d", w.Code)
	}
}

func TestRegistrationAPI(t *testing.T) {
	s := newTestService(t)
	reg := s.RegistrationHandler()
	tests := []struct {
		name, method, path, body string
		code                     int
	}{
		{"bad uuid", "PUT", "/pods/nope?token=" + tokenA, podManifest("web"), 400},
		{"no token", "PUT", "/pods/" + uuidA, podManifest("web"), 400},
		{"weak token", "PUT", "/pods/" + uuidA + "?token=1234", podManifest("web"), 400},
		{"token with slash", "PUT", "/pods/" + uuidA + "?token=" + url.QueryEscape(tokenA[:40]+"/"+tokenA[:40]), podManifest("web"), 400},
		{"two tokens", "PUT", "/pods/" + uuidA + "?token=" + tokenA + "&token=" + tokenB, podManifest("web"), 400},
		{"token of another pod", "PUT", "/pods/" + "8a2b8c1d-1111-4222-8333-944455556666?token=" + tokenB, podManifest("web"), 409},
		{"not a pod manifest", "PUT", "/pods/" + uuidA + "?token=" + tokenA, imageManifest, 400},
		{"not JSON", "PUT", "/pods/" + uuidA + "?token=" + tokenA, "{", 400},
		{"too large", "PUT", "/pods/" + uuidA + "?token=" + tokenA, `{"acKind":"PodManifest","x":"` + strings.Repeat("a", MaxManifest) + `"}`, 413},
		{"app of no pod", "PUT", "/pods/" + "8a2b8c1d-1111-4222-8333-944455556666/web", imageManifest, 404},
		{"app not in the pod", "PUT", "/pods/" + uuidA + "/other", imageManifest, 404},
		{"bad app name", "PUT", "/pods/" + uuidA + "/Web", imageManifest, 400},
		{"app manifest not an image manifest", "PUT", "/pods/" + uuidA + "/web", podManifest("web"), 400},
		{"too deep", "PUT", "/pods/" + uuidA + "/web/x", imageManifest, 404},
		{"other prefix", "PUT", "/apps/" + uuidA, imageManifest, 404},
		{"GET", "GET", "/pods/" + uuidA, "", 405},
		{"delete unknown", "DELETE", "/pods/8a2b8c1d-1111-4222-8333-944455556666", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := do(reg, tc.method, tc.path, tc.body, ""); w.Code != tc.code {
				t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, w.Code, tc.code, w.Body)
			}
		})
	}
	// The registration answer gives the port.
	w := do(reg, "PUT", "/pods/"+uuidA+"?token="+tokenA, podManifest("web"), "")
	var r mdsclient.Registered
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Port != 18112 {
		t.Errorf("registration answer %q: %v", w.Body, err)
	}
	// Registering a pod again replaces its token: the old one is dead.
	do(reg, "PUT", "/pods/"+uuidB+"?token="+strings.Repeat("c", 64), podManifest("db"), "")
	pub := s.PublicHandler()
	if w := do(pub, "GET", "/"+tokenB+"/acMetadata/v1/pod/uuid", "", ""); w.Code != 401 {
		t.Errorf("the replaced token still answers: %d", w.Code)
	}
	if w := do(pub, "GET", "/"+strings.Repeat("c", 64)+"/acMetadata/v1/pod/uuid", "", ""); w.Code != 200 || w.Body.String() != uuidB {
		t.Errorf("the new token: %d %s", w.Code, w.Body)
	}
	// Registering a pod again drops its apps: the public API serves only
	// apps of the manifest registered last, whose image manifests came
	// after it.
	if w := do(pub, "GET", "/"+strings.Repeat("c", 64)+"/acMetadata/v1/apps/db/image/id", "", ""); w.Code != 404 {
		t.Errorf("an app registered before the pod's new manifest: %d %s", w.Code, w.Body)
	}
	// Unregistered, the token answers no more.
	if w := do(reg, "DELETE", "/pods/"+uuidA, "", ""); w.Code != 200 {
		t.Fatalf("unregister: %d", w.Code)
	}
	if w := do(pub, "GET", "/"+tokenA+"/acMetadata/v1/pod/uuid", "", ""); w.Code != 401 {
		t.Errorf("an unregistered pod's token still answers: %d", w.Code)
	}
	if s.reg.len() != 1 {
		t.Errorf("%d pods registered, want 1", s.reg.len())
	}
}

// TestServeAndClient runs the service on a socket and a free port and
// registers through the client, as rkt run does.
func TestServeAndClient(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "mds.sock")
	c := mdsclient.NewClient(socket)
	ctx := t.Context()
	if err := c.Check(ctx); !errdefs.Is(err, errdefs.KindUnavailable) || !strings.Contains(err.Error(), "rkt metadata-service") {
		t.Fatalf("no service: %v", err)
	}
	if _, err := c.Register(ctx, uuidA, tokenA, []byte(podManifest("web")), nil); !errdefs.Is(err, errdefs.KindUnavailable) {
		t.Fatalf("register without a service: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Serve(sctx, Options{Port: 0, Socket: socket, Logf: t.Logf}) }()
	deadline := time.Now().Add(10 * time.Second)
	for c.Check(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the service did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A second service on the same socket refuses to start.
	if err := Serve(ctx, Options{Port: 0, Socket: socket}); !errdefs.Is(err, errdefs.KindAlreadyExists) {
		t.Errorf("second service: %v", err)
	}
	port, err := c.Register(ctx, uuidA, tokenA, []byte(podManifest("web")), []mdsclient.App{{Name: "web", Manifest: []byte(imageManifest)}})
	if err != nil || port == 0 {
		t.Fatalf("register: %d %v", port, err)
	}
	_, err = c.Register(ctx, uuidB, tokenB, []byte(podManifest("db")), []mdsclient.App{{Name: "nope", Manifest: []byte(imageManifest)}})
	if err == nil || strings.Contains(err.Error(), tokenB) {
		t.Errorf("registering an unknown app: %v (the token must stay out of errors)", err)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/" + tokenA + "/acMetadata/v1/apps/web/image/id") //nolint:noctx // a test request
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("public API over TCP: %s", resp.Status)
	}
	if err := c.Unregister(ctx, uuidA); err != nil {
		t.Fatal(err)
	}
	if err := c.Unregister(ctx, uuidA); !errors.Is(err, mdsclient.ErrNotRegistered) {
		t.Errorf("second unregister: %v", err)
	}
	// The failed registration of pod B was undone.
	if err := c.Unregister(ctx, uuidB); !errors.Is(err, mdsclient.ErrNotRegistered) {
		t.Errorf("pod B stayed registered after its app failed: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestValidToken(t *testing.T) {
	tok, err := mdsclient.NewToken()
	if err != nil || !ValidToken(tok) || len(tok) != 64 {
		t.Fatalf("NewToken: %q %v", tok, err)
	}
	other, _ := mdsclient.NewToken()
	if other == tok {
		t.Fatal("two tokens are equal")
	}
	for _, bad := range []string{"", strings.Repeat("a", 31), strings.Repeat("a", 257), strings.Repeat("a", 40) + "/", strings.Repeat("a", 40) + "%2e", strings.Repeat("a", 40) + " "} {
		if ValidToken(bad) {
			t.Errorf("ValidToken(%q)", bad)
		}
	}
}
