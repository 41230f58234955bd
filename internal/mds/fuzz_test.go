package mds

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPublicAPI sends arbitrary requests, as a pod could, to the public
// API of a service with two pods registered, and checks that it never
// panics, that only pod A's token gets an answer, and that pod A's
// answers never carry pod B's data.
func FuzzPublicAPI(f *testing.F) {
	base := "/" + tokenA + "/acMetadata/v1/"
	for _, s := range []struct{ method, path, body string }{
		{"GET", base + "pod/uuid", ""},
		{"GET", base + "pod/annotations/example.com/owner", ""},
		{"GET", base + "apps/web/annotations/lorem", ""},
		{"GET", base + "apps/db/image/manifest", ""},
		{"GET", base + "apps/web/../../pod/manifest", ""},
		{"POST", base + "pod/hmac/sign", "content=abc"},
		{"POST", base + "pod/hmac/verify", "content=abc&uuid=" + uuidB + "&signature=AAAA"},
		{"GET", "/" + tokenB + "/acMetadata/v1/pod/uuid", ""},
		{"PUT", base + "pod/annotations/%2e%2e", "x"},
	} {
		f.Add(s.method, s.path, s.body)
	}
	s, err := NewService(18112, nil)
	if err != nil {
		f.Fatal(err)
	}
	reg := s.RegistrationHandler()
	for _, c := range []struct{ uuid, token, app string }{{uuidA, tokenA, "web"}, {uuidB, tokenB, "db"}} {
		if w := do(reg, "PUT", "/pods/"+c.uuid+"?token="+c.token, podManifest(c.app), ""); w.Code != 200 {
			f.Fatalf("register pod: %d %s", w.Code, w.Body)
		}
		if w := do(reg, "PUT", "/pods/"+c.uuid+"/"+c.app, strings.ReplaceAll(imageManifest, "web", c.app), ""); w.Code != 200 {
			f.Fatalf("register app: %d %s", w.Code, w.Body)
		}
	}
	pub := s.PublicHandler()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		// Only the pod's own token is tried: what another token gets is
		// TestPublicAPI's.
		path = base + path
		r, err := http.NewRequest(method, "http://mds"+path, strings.NewReader(body)) //nolint:noctx // never sent
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		pub.ServeHTTP(w, r)
		out := w.Body.String()
		if strings.Contains(out, uuidB) || strings.Contains(out, `"db"`) || strings.Contains(out, "example.com/db") {
			t.Fatalf("%s %q: pod A's token got pod B's data: %d %s", method, path, w.Code, out)
		}
		if w.Code == 200 && r.URL.RawPath != "" {
			t.Fatalf("%s %q: an escaped path was answered", method, path)
		}
	})
}
