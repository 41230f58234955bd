package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func smallImage(t testing.TB) v1.Image {
	t.Helper()
	return Image(t, v1.Config{Cmd: []string{"/hello"}},
		Layer(t, []TarEntry{File("hello", 0o755, "hello world\n")}, Gzip),
		Layer(t, []TarEntry{Dir("etc/", 0o755), File("etc/motd", 0o644, "zstd layer\n")}, Zstd),
	)
}

// pullAs fetches ref with the given credentials and returns the image's
// digest, or the error.
func pullAs(t *testing.T, r *Registry, ref string, auth authn.Authenticator) (v1.Hash, error) {
	t.Helper()
	img, err := remote.Image(r.ParseRef(t, ref), remote.WithAuth(auth), remote.WithTransport(r.Transport()))
	if err != nil {
		return v1.Hash{}, err
	}
	// Read every blob so that blob auth is exercised too.
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_ = rc.Close()
	}
	if _, err := img.RawConfigFile(); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("got error %v (%T), want a registry error with status %d", err, err, status)
	}
	if terr.StatusCode != status {
		t.Fatalf("got status %d (%v), want %d", terr.StatusCode, err, status)
	}
}

func TestRegistryNoAuth(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{})
	img := smallImage(t)
	ref := r.Ref("test/small", "v1")
	r.Push(t, ref, img)
	got, err := pullAs(t, r, ref, authn.Anonymous)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if want := Digest(t, img); got != want {
		t.Fatalf("pulled digest %s, want %s", got, want)
	}
	// By digest as well.
	if _, err := pullAs(t, r, r.Ref("test/small", got.String()), authn.Anonymous); err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{Basic: map[string]string{"alice": "s3cret"}})
	img := smallImage(t)
	ref := r.Ref("alice/app", "latest")
	r.Push(t, ref, img)
	if _, err := pullAs(t, r, ref, &authn.Basic{Username: "alice", Password: "s3cret"}); err != nil {
		t.Fatalf("pull with right password: %v", err)
	}
	_, err := pullAs(t, r, ref, &authn.Basic{Username: "alice", Password: "wrong"})
	wantStatus(t, err, http.StatusUnauthorized)
	_, err = pullAs(t, r, ref, authn.Anonymous)
	wantStatus(t, err, http.StatusUnauthorized)
}

func TestRegistryTokenAuth(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{Token: true, TokenUsers: map[string]string{"bob": "pa55"}})
	img := smallImage(t)
	ref := r.Ref("bob/app", "v2")
	r.Push(t, ref, img)
	if _, err := pullAs(t, r, ref, &authn.Basic{Username: "bob", Password: "pa55"}); err != nil {
		t.Fatalf("pull with right password: %v", err)
	}
	_, err := pullAs(t, r, ref, &authn.Basic{Username: "bob", Password: "nope"})
	wantStatus(t, err, http.StatusUnauthorized)
	// Anonymous gets a token with no access: the registry says 401.
	_, err = pullAs(t, r, ref, authn.Anonymous)
	wantStatus(t, err, http.StatusUnauthorized)

	var sawBob, sawWrong bool
	for _, req := range r.TokenRequests() {
		if req.User == "bob" && req.Status == http.StatusOK && len(req.Granted) > 0 {
			sawBob = true
		}
		if req.User == "bob" && req.Status == http.StatusUnauthorized {
			sawWrong = true
		}
	}
	if !sawBob || !sawWrong {
		t.Fatalf("token server log misses bob's requests: %+v", r.TokenRequests())
	}
}

func TestRegistryTokenAnonymousPullTLS(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{Token: true, TokenAnonymousPull: true, TLS: true})
	img := smallImage(t)
	ref := r.Ref("library/public", "latest")
	r.Push(t, ref, img)
	if _, err := pullAs(t, r, ref, authn.Anonymous); err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	// Anonymous push must be refused.
	err := remote.Write(r.ParseRef(t, r.Ref("library/public", "evil")), img, remote.WithTransport(r.Transport()))
	wantStatus(t, err, http.StatusUnauthorized)
}

func TestRegistryTLS(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, RegistryOptions{TLS: true, Basic: map[string]string{"carol": "pw"}})
	if r.CAFile == "" || r.URL[:8] != "https://" {
		t.Fatalf("TLS registry: URL %q CAFile %q", r.URL, r.CAFile)
	}
	img := smallImage(t)
	ref := r.Ref("carol/app", "latest")
	r.Push(t, ref, img)
	if _, err := pullAs(t, r, ref, &authn.Basic{Username: "carol", Password: "pw"}); err != nil {
		t.Fatalf("pull: %v", err)
	}
	// Without the CA, TLS verification must fail.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DialContext: loopbackOnlyDialer}}).Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("GET without the CA succeeded")
	}
}

// parseChallenge parses `Bearer realm="...",service="...",scope="..."`.
func parseChallenge(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		t.Fatalf("challenge %q is not Bearer", h)
	}
	out := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// TestRegistryTokenProtocol walks the token protocol by hand: the
// registry's challenge, the token server, and the registry's verification of
// the JWT against rootcertbundle (a token signed by another key is refused).
func TestRegistryTokenProtocol(t *testing.T) {
	t.Parallel()
	for _, other := range []bool{false, true} {
		t.Run(fmt.Sprintf("realm-other-host=%v", other), func(t *testing.T) {
			t.Parallel()
			r := StartRegistry(t, RegistryOptions{Token: true, TokenUsers: map[string]string{"dave": "pw"}, TokenRealmOtherHost: other})
			img := smallImage(t)
			ref := r.Ref("dave/app", "v1")
			if other {
				// go-containerregistry refuses a loopback realm on another
				// host:port, so the image is pushed by hand below.
				err := remote.Write(r.ParseRef(t, ref), img, r.RemoteOptions()...)
				if err == nil || !strings.Contains(err.Error(), "private or link-local") {
					t.Fatalf("ggcr with a realm on another loopback port: %v, want a refusal", err)
				}
			} else {
				r.Push(t, ref, img)
			}
			client := &http.Client{Transport: r.Transport()}
			manifestURL := r.URL + "/v2/dave/app/manifests/v1"
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, manifestURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("no token: %s", resp.Status)
			}
			ch := parseChallenge(t, resp.Header.Get("WWW-Authenticate"))
			if ch["realm"] != r.TokenRealm || ch["service"] != TokenService || ch["scope"] != "repository:dave/app:pull" {
				t.Fatalf("challenge %v", ch)
			}
			getToken := func(user, pw, scope string) (string, int) {
				t.Helper()
				q := url.Values{"service": {ch["service"]}, "scope": {scope}}
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ch["realm"]+"?"+q.Encode(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if user != "" {
					req.SetBasicAuth(user, pw)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct {
					Token       string `json:"token"`
					AccessToken string `json:"access_token"`
					ExpiresIn   int    `json:"expires_in"`
					IssuedAt    string `json:"issued_at"`
				}
				if resp.StatusCode == http.StatusOK {
					if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
						t.Fatal(err)
					}
					if body.Token == "" || body.Token != body.AccessToken || body.ExpiresIn != 300 || body.IssuedAt == "" {
						t.Fatalf("token response %+v", body)
					}
				}
				return body.Token, resp.StatusCode
			}
			withToken := func(method, u, tok string) int {
				t.Helper()
				req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Accept", string(types.OCIManifestSchema1))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				return resp.StatusCode
			}
			if other {
				// Push by hand: a monolithic upload of each blob and the
				// manifest, with an admin token.
				tok, st := getToken(r.Username, r.Password, "repository:dave/app:pull,push")
				if st != http.StatusOK {
					t.Fatalf("admin token: %d", st)
				}
				pushByHand(t, client, r.URL, "dave/app", "v1", tok, img)
			}
			if _, st := getToken("dave", "wrong", ch["scope"]); st != http.StatusUnauthorized {
				t.Fatalf("wrong password: token server said %d", st)
			}
			tok, st := getToken("dave", "pw", ch["scope"])
			if st != http.StatusOK {
				t.Fatalf("token: %d", st)
			}
			if got := withToken(http.MethodGet, manifestURL, tok); got != http.StatusOK {
				t.Fatalf("GET manifest with dave's token: %d", got)
			}
			anon, st := getToken("", "", ch["scope"])
			if st != http.StatusOK {
				t.Fatalf("anonymous token: %d", st)
			}
			if got := withToken(http.MethodGet, manifestURL, anon); got != http.StatusUnauthorized {
				t.Fatalf("GET manifest with an empty-access token: %d", got)
			}
			// A token for another repository does not open this one.
			otherRepo, _ := getToken("dave", "pw", "repository:dave/other:pull")
			if got := withToken(http.MethodGet, manifestURL, otherRepo); got != http.StatusUnauthorized {
				t.Fatalf("GET manifest with another repository's token: %d", got)
			}
			// The same claims signed by a key the registry does not trust.
			forger := &tokenServer{signer: newSelfSignedSigner(t, "forger"), service: TokenService, issuer: TokenIssuer}
			forged, err := forger.sign("dave", []TokenAccess{{Type: "repository", Name: "dave/app", Actions: []string{"pull"}}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := withToken(http.MethodGet, manifestURL, forged); got != http.StatusUnauthorized {
				t.Fatalf("GET manifest with a forged token: %d", got)
			}
		})
	}
}

// pushByHand uploads img with monolithic blob uploads and a manifest PUT.
func pushByHand(t *testing.T, client *http.Client, base, repo, tag, tok string, img v1.Image) {
	t.Helper()
	do := func(method, u string, body []byte, ct string, want int) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %s: %s", method, u, resp.Status, b)
		}
		return resp
	}
	upload := func(data []byte) {
		t.Helper()
		resp := do(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil, "", http.StatusAccepted)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(base + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		u = u.ResolveReference(loc)
		q := u.Query()
		q.Set("digest", sha256Hash(data).String())
		u.RawQuery = q.Encode()
		do(http.MethodPut, u.String(), data, "application/octet-stream", http.StatusCreated)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	upload(cfg)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		upload(data)
	}
	m, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	do(http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, m, string(mt), http.StatusCreated)
}
