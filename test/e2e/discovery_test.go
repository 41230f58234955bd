package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// aciServer is an HTTPS server on port 443 of a loopback address of its
// own (127.x.y.z: appc names cannot carry a port, so discovery always asks
// port 443), with a certificate from a test CA that rkt is told to trust
// through SSL_CERT_FILE. It serves files, counts requests, and can require
// basic auth.
type aciServer struct {
	ip    string
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	user  string // basic auth "user:password" required when set
	// cc is the Cache-Control header of a path; every answer has an ETag,
	// and a matching If-None-Match gets 304 (counted in notModified).
	cc          map[string]string
	notModified int
}

func newACIServer(t *testing.T, e *env) *aciServer {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	s := &aciServer{ip: fmt.Sprintf("127.%d.%d.%d", b[0]%200+20, b[1], b[2]%250+2), files: map[string][]byte{}, hits: map[string]int{}, cc: map[string]string{}}
	ca := testutil.NewCA(t, "rkt e2e discovery CA")
	cert := ca.IssueServerCert(t, []net.IP{net.ParseIP(s.ip)})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", s.ip+":443")
	if err != nil {
		t.Skipf("cannot listen on %s:443: %v", s.ip, err)
	}
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	e.vars = append(e.vars, "SSL_CERT_FILE="+ca.File)
	return s
}

func (s *aciServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.URL.Path
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	s.hits[key]++
	if s.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u+":"+p != s.user {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	data, ok := s.files[key]
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(data))
	w.Header().Set("ETag", etag)
	if cc := s.cc[key]; cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	if r.Header.Get("If-None-Match") == etag {
		s.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(data)
}

func (s *aciServer) put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

func (s *aciServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// discoveryPage is a page naming the image template and the keys.
func discoveryPage(prefix, host string, keys bool) []byte {
	p := `<html><head><meta name="ac-discovery" content="` + prefix + ` https://` + host + `/images/{name}-{version}-{os}-{arch}.{ext}">`
	if keys {
		p += `<meta name="ac-discovery-pubkeys" content="` + prefix + ` https://` + host + `/pubkeys.gpg">`
	}
	return []byte(p + "</head></html>")
}

// discoveredACI is where discoveryPage's template puts the ACI of name and
// version for this host: {os} and {arch} are linux and this machine's appc
// arch, the labels rkt's discovery must assume when none is given.
func discoveredACI(name, version string) string {
	return "/images/" + name + "-" + version + "-linux-" + testutil.AppcArch() + ".aci"
}

func TestDiscoveryFetch(t *testing.T) {
	e, _ := podEnv(t)
	g := newGPG(t)
	srv := newACIServer(t, e)
	name := srv.ip + "/app"
	keyFile := g.key(t, "Discovery Signer", "disco@example.com")
	pub, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Discovery answers at the host level only: rkt walks up from
	// 127.x.y.z/app to 127.x.y.z.
	srv.put("/?ac-discovery=1", discoveryPage(srv.ip, srv.ip, true))
	srv.put("/pubkeys.gpg", pub)
	for _, v := range []string{"1.0", "2.0"} {
		aci := writeACI(t, name, v, `{"exec":["/bin/echo","discovered `+v+`"],"user":"0","group":"0"}`)
		g.sign(t, "disco@example.com", aci, aci+".asc", true)
		data := []byte(readFile(t, aci))
		sig := []byte(readFile(t, aci+".asc"))
		srv.put(discoveredACI(name, v), data)
		srv.put(discoveredACI(name, v)+".asc", sig)
	}
	// The latest version is 2.0 (a copy under "latest").
	srv.put(discoveredACI(name, "latest"), srv.files[discoveredACI(name, "2.0")])
	srv.put(discoveredACI(name, "latest")+".asc", srv.files[discoveredACI(name, "2.0")+".asc"])

	// No key trusted yet.
	r := rkt(t, e, "fetch", name+":1.0").exit(t, 254)
	mentions(t, "stderr", r.stderr, "signature made by unknown entity")
	// rkt trust --prefix with no key: the key by discovery.
	r = rkt(t, e, "trust", "--prefix="+name, "--skip-fingerprint-review").ok(t)
	mentions(t, "stderr", r.stderr, "https://"+srv.ip+"/pubkeys.gpg", "Discovery Signer <disco@example.com>")

	r = rkt(t, e, "fetch", name+":1.0").ok(t)
	mentions(t, "stderr", r.stderr, "image: signature verified:")
	if out := rkt(t, e, "run", "--net=host", name+":1.0").ok(t).stdout; !strings.Contains(out, "discovered 1.0") {
		t.Errorf("run %s:1.0: %q", name, out)
	}
	if out := rkt(t, e, "run", "--net=host", name).ok(t).stdout; !strings.Contains(out, "discovered 2.0") {
		t.Errorf("run %s (latest): %q", name, out)
	}
	// The long form, with labels.
	rkt(t, e, "fetch", name+",version=1.0,os=linux").ok(t)
	// A requested label the image does not have.
	srv.put(discoveredACI(name, "3.0"), srv.files[discoveredACI(name, "2.0")])
	srv.put(discoveredACI(name, "3.0")+".asc", srv.files[discoveredACI(name, "2.0")+".asc"])
	r = rkt(t, e, "fetch", name+":3.0").exit(t, 254)
	mentions(t, "stderr", r.stderr, `requested value for label "version": "3.0" differs from fetched aci label value: "2.0"`)

	// --pull-policy=new uses the store: no request for the image.
	before := srv.count(discoveredACI(name, "1.0"))
	rkt(t, e, "fetch", "--pull-policy=new", name+":1.0").ok(t)
	rkt(t, e, "fetch", "--pull-policy=never", name+":1.0").ok(t)
	if after := srv.count(discoveredACI(name, "1.0")); after != before {
		t.Errorf("pull policy new/never downloaded the image (%d -> %d requests)", before, after)
	}
	r = rkt(t, e, "fetch", "--pull-policy=never", name+":9.9").exit(t, 254)
	mentions(t, "stderr", r.stderr, "not in the store")
	// With never, a name without version finds a stored version, and the
	// long form finds the one its labels name, as rkt 1.x's store did.
	id10 := strings.TrimSpace(rkt(t, e, "fetch", "--pull-policy=never", name+":1.0").ok(t).stdout)
	rkt(t, e, "fetch", "--pull-policy=never", name).ok(t)
	if got := strings.TrimSpace(rkt(t, e, "fetch", "--pull-policy=never", name+",version=1.0").ok(t).stdout); got != id10 {
		t.Errorf("fetch --pull-policy=never %s,version=1.0 printed %s, want %s", name, got, id10)
	}

	// A direct https URL, and its signature beside it. Fetched again
	// (--pull-policy=update, fetch's default): the stored ETag gets 304.
	path := discoveredACI(name, "1.0")
	url := "https://" + srv.ip + path
	rkt(t, e, "fetch", url).ok(t)
	hits, nm := srv.count(path), srv.notModified
	rkt(t, e, "fetch", url).ok(t)
	if srv.count(path) != hits+1 || srv.notModified != nm+1 {
		t.Errorf("a second fetch of %s: %d requests, %d not modified (before %d, %d)", url, srv.count(path), srv.notModified, hits, nm)
	}
	// With Cache-Control max-age, no request while it lasts.
	path2 := discoveredACI(name, "2.0")
	srv.mu.Lock()
	srv.cc[path2] = "public, max-age=3600"
	srv.mu.Unlock()
	rkt(t, e, "fetch", "https://"+srv.ip+path2).ok(t)
	hits = srv.count(path2)
	rkt(t, e, "fetch", "https://"+srv.ip+path2).ok(t)
	if srv.count(path2) != hits {
		t.Errorf("max-age: %s asked again", path2)
	}
	// --signature replaces the signature beside the URL.
	r = rkt(t, e, "fetch", "--signature=/nonexistent.asc", "https://"+srv.ip+discoveredACI(name, "3.0")).exit(t, 254)
	mentions(t, "stderr", r.stderr, "error opening signature file", "/nonexistent.asc")
	r = rkt(t, e, "fetch", "http://"+srv.ip+"/images/x.aci").exit(t, 254)
	mentions(t, "stderr", r.stderr, "plain HTTP is not allowed")

	// Credentials from auth.d, for that host only.
	srv.mu.Lock()
	srv.user = "alice:secret"
	srv.mu.Unlock()
	r = rkt(t, e, "fetch", url).exit(t, 254)
	mentions(t, "stderr", r.stderr, "401")
	authDir := filepath.Join(e.localConfig, "auth.d")
	if err := os.MkdirAll(authDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(authDir, "disco.json"), map[string]any{
		"rktKind": "auth", "rktVersion": "v1", "domains": []string{srv.ip}, "type": "basic",
		"credentials": map[string]string{"user": "alice", "password": "secret"},
	})
	rkt(t, e, "fetch", url).ok(t)
}

func TestDiscoveryTrustKeysFromHTTPS(t *testing.T) {
	e, _ := podEnv(t)
	g := newGPG(t)
	srv := newACIServer(t, e)
	name := srv.ip + "/tool"
	keyFile := g.key(t, "Tool Signer", "tool@example.com")
	pub := []byte(readFile(t, keyFile))
	srv.put("/tool?ac-discovery=1", discoveryPage(name, srv.ip, true))
	srv.put("/pubkeys.gpg", pub)
	aci := writeACI(t, name, "latest", `{"exec":["/bin/true"],"user":"0","group":"0"}`)
	g.sign(t, "tool@example.com", aci, aci+".asc", false)
	data := []byte(readFile(t, aci))
	sig := []byte(readFile(t, aci+".asc"))
	srv.put(discoveredACI(name, "latest"), data)
	srv.put(discoveredACI(name, "latest")+".asc", sig)

	rkt(t, e, "fetch", name).exit(t, 254)
	r := rkt(t, e, "--trust-keys-from-https", "fetch", name).ok(t)
	mentions(t, "stderr", r.stderr, "--trust-keys-from-https", "image: signature verified:")
	if _, err := os.Stat(filepath.Join(e.localConfig, "trustedkeys", "prefix.d", filepath.FromSlash(name))); err != nil {
		t.Errorf("the discovered key was not stored: %v", err)
	}
}

// serveACI signs an ACI with email's key and serves it where the
// discovery page's template puts name:version.
func (s *aciServer) serveACI(t *testing.T, g *gpgHome, email, name, version string, data []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "img.aci")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	g.sign(t, email, file, file+".asc", true)
	sig := []byte(readFile(t, file+".asc"))
	s.put(discoveredACI(name, version), data)
	s.put(discoveredACI(name, version)+".asc", sig)
}

func TestACIDependencies(t *testing.T) {
	e, _ := podEnv(t)
	g := newGPG(t)
	srv := newACIServer(t, e)
	g.key(t, "Deps Signer", "deps@example.com")
	g.key(t, "Unrelated Signer", "unrelated@example.com")
	srv.put("/?ac-discovery=1", discoveryPage(srv.ip, srv.ip, true))
	pub := []byte(readFile(t, filepath.Join(g.dir, "deps@example.com.pub")))
	srv.put("/pubkeys.gpg", pub)
	rkt(t, e, "trust", "--prefix="+srv.ip, "--skip-fingerprint-review").ok(t)

	dep := func(name, version, extra string) string {
		return `{"imageName":"` + name + `","labels":[{"name":"version","value":"` + version + `"}]` + extra + `}`
	}
	manifest := func(name, version, app, deps string) string {
		m := testutil.ACIManifest(name, version, app)
		if deps != "" {
			m = strings.TrimSuffix(m, "}") + `,"dependencies":[` + deps + `]}`
		}
		return m
	}
	base, top := srv.ip+"/base", srv.ip+"/top"
	srv.serveACI(t, g, "deps@example.com", base, "1.0", testutil.BusyboxACI(t, manifest(base, "1.0", "", ""),
		testutil.File("etc/base-marker", 0o644, "from base\n"), testutil.File("etc/which", 0o644, "base\n")))
	srv.serveACI(t, g, "deps@example.com", top, "1.0", testutil.ACI(t,
		manifest(top, "1.0", `{"exec":["/bin/sh","-c","cat /etc/base-marker /etc/which /top-file"],"user":"0","group":"0"}`, dep(base, "1.0", "")),
		testutil.Dir("etc/", 0o755), testutil.File("etc/which", 0o644, "top\n"), testutil.File("top-file", 0o644, "from top\n")))

	// The dependency comes with the image; the image's files win.
	rkt(t, e, "fetch", top+":1.0").ok(t)
	if l := rkt(t, e, "image", "list", "--no-legend").ok(t).stdout; !strings.Contains(l, base+":1.0") {
		t.Errorf("the dependency was not fetched:\n%s", l)
	}
	out := rkt(t, e, "run", "--net=host", top+":1.0").ok(t).stdout
	if out != "from base\ntop\nfrom top\n" {
		t.Errorf("run: %q", out)
	}

	// A dependency signed by an unrelated key.
	evilBase, evilTop := srv.ip+"/evil-base", srv.ip+"/evil-top"
	srv.serveACI(t, g, "unrelated@example.com", evilBase, "1.0", testutil.BusyboxACI(t, manifest(evilBase, "1.0", "", "")))
	srv.serveACI(t, g, "deps@example.com", evilTop, "1.0", testutil.ACI(t,
		manifest(evilTop, "1.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`, dep(evilBase, "1.0", ""))))
	r := rkt(t, e, "fetch", evilTop+":1.0").exit(t, 254)
	mentions(t, "stderr", r.stderr, "dependency "+evilBase, "signature made by unknown entity")

	// A pinned image ID that is not what the name gives.
	pinned := srv.ip + "/pinned"
	wrongID := `,"imageID":"sha512-` + strings.Repeat("ab", 64) + `"`
	srv.serveACI(t, g, "deps@example.com", pinned, "1.0", testutil.ACI(t,
		manifest(pinned, "1.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`, dep(base, "1.0", wrongID))))
	r = rkt(t, e, "fetch", pinned+":1.0").exit(t, 254)
	mentions(t, "stderr", r.stderr, "not the pinned")

	// A path whitelist over a dependency (aci_test.go has the rules).
	wl := srv.ip + "/whitelisted"
	srv.serveACI(t, g, "deps@example.com", wl, "1.0", testutil.ACI(t,
		strings.TrimSuffix(manifest(wl, "1.0", `{"exec":["/bin/sh","-c","cat /etc/which; ls /etc"],"user":"0","group":"0"}`, dep(base, "1.0", "")), "}")+
			`,"pathWhitelist":["/bin/sh","/bin/busybox","/bin/cat","/bin/ls","/etc/which"]}`))
	out = rkt(t, e, "run", "--net=host", wl+":1.0").ok(t).stdout
	if out != "base\nhostname\nhosts\nresolv.conf\nwhich\n" { // stage1 adds the /etc files
		t.Errorf("whitelisted run: %q", out)
	}

	// A dependency cycle.
	cycA, cycB := srv.ip+"/cycle-a", srv.ip+"/cycle-b"
	srv.serveACI(t, g, "deps@example.com", cycA, "1.0", testutil.ACI(t,
		manifest(cycA, "1.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`, dep(cycB, "1.0", ""))))
	srv.serveACI(t, g, "deps@example.com", cycB, "1.0", testutil.ACI(t, manifest(cycB, "1.0", "", dep(cycA, "1.0", ""))))
	r = rkt(t, e, "fetch", cycA+":1.0").exit(t, 254)
	mentions(t, "stderr", r.stderr, "dependency cycle")
}
