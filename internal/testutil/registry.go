package testutil

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall" //nolint:depguard // exec.Cmd.SysProcAttr is a *syscall.SysProcAttr; x/sys/unix has no such type
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// RegistryBinary is the Debian package's registry binary that StartRegistry
// runs.
const RegistryBinary = "docker-registry"

// AdminUser is the user name that a Registry adds next to the users of
// RegistryOptions when it needs authentication; its random password is in
// Registry.Password. Push and PushIndex use it.
const AdminUser = "testutil-admin"

// TokenService and TokenIssuer are the service (JWT audience) and issuer that
// a token-auth Registry and its token server agree on.
const (
	TokenService = "rkt-testutil-registry"
	TokenIssuer  = "rkt-testutil-token-issuer"
)

// RegistryOptions configures StartRegistry.
type RegistryOptions struct {
	// Basic turns on htpasswd (bcrypt) basic auth with these users
	// (user -> password). Cannot be combined with Token.
	Basic map[string]string
	// Token turns on distribution's token auth, with an in-process token
	// server as the realm.
	Token bool
	// TokenUsers are the users (user -> password) that the token server
	// accepts. Authenticated users are granted every action they ask for.
	TokenUsers map[string]string
	// TokenAnonymousPull makes the token server grant "pull" to anonymous
	// requests, the way Docker Hub does for public images. Without it
	// anonymous tokens carry an empty access list.
	TokenAnonymousPull bool
	// TokenRealmOtherHost serves the token realm from its own port instead
	// of the registry's own host:port (the default). Note that
	// go-containerregistry refuses a realm on a loopback address unless it
	// is the registry's own host:port, so only clients without that rule can
	// log in to such a registry.
	TokenRealmOtherHost bool
	// TLS serves the registry (and token realm) over HTTPS with a server
	// certificate for 127.0.0.1 issued by a CA made for the test
	// (Registry.CAFile).
	TLS bool
}

// Registry is a running docker-registry (github.com/docker/distribution 2.8)
// on 127.0.0.1, with filesystem storage in a test temp directory.
//
// With token auth the registry process listens on a private port and Addr is
// an in-process front end that serves the token realm at /token/ and passes
// every other request unchanged to the registry, so that the realm has the
// same host:port as the registry (see RegistryOptions.TokenRealmOtherHost).
type Registry struct {
	// Addr is "127.0.0.1:PORT", the address clients use.
	Addr string
	// URL is "http://Addr" or "https://Addr".
	URL string
	// CA is the certificate authority of a TLS registry (nil without TLS).
	CA *CA
	// CAFile is the PEM file of CA ("" without TLS).
	CAFile string
	// Username and Password are the admin credentials ("" without auth).
	Username, Password string
	// TokenRealm is the token server's URL ("" without token auth).
	TokenRealm string
	// StorageDir is the registry's filesystem storage root.
	StorageDir string

	// Options are the options it was started with.
	Options RegistryOptions

	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	output   *lockedBuffer
	servers  []*httptest.Server
	tokens   *tokenServer
	stopOnce sync.Once
}

// StartRegistry starts Debian's docker-registry on a free port of 127.0.0.1
// and waits until it answers GET /v2/. It skips the test when the binary is
// missing, fails it when the registry does not come up, and stops the
// registry with t.Cleanup.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin, err := exec.LookPath(RegistryBinary)
	if err != nil {
		t.Skipf("testutil: needs Debian's docker-registry: apt-get install docker-registry (%v)", err)
	}
	if len(opts.Basic) > 0 && opts.Token {
		t.Fatal("testutil: RegistryOptions: Basic and Token are exclusive")
	}
	if !opts.Token && (len(opts.TokenUsers) > 0 || opts.TokenAnonymousPull || opts.TokenRealmOtherHost) {
		t.Fatal("testutil: RegistryOptions: Token* options need Token")
	}

	dir := t.TempDir()
	r := &Registry{Options: opts, StorageDir: filepath.Join(dir, "storage"), output: &lockedBuffer{}}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() && r.output.String() != "" {
			t.Logf("testutil: docker-registry output:\n%s", r.output.String())
		}
	})
	scheme := "http"
	var cert *ServerCert
	if opts.TLS {
		scheme = "https"
		r.CA = NewCA(t, "rkt testutil registry CA")
		r.CAFile = r.CA.File
		cert = r.CA.IssueServerCert(t, []net.IP{loopbackIP})
	}

	var authYAML, tokenBundle string
	switch {
	case len(opts.Basic) > 0:
		r.Username, r.Password = AdminUser, randomHex(12)
		users := map[string]string{r.Username: r.Password}
		for u, p := range opts.Basic {
			users[u] = p
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		writeHtpasswd(t, htpasswd, users)
		authYAML = fmt.Sprintf("auth:\n  htpasswd:\n    realm: %s\n    path: %s\n", yq("rkt testutil"), yq(htpasswd))
	case opts.Token:
		r.Username, r.Password = AdminUser, randomHex(12)
		users := map[string]string{r.Username: r.Password}
		for u, p := range opts.TokenUsers {
			users[u] = p
		}
		signer := newSelfSignedSigner(t, "rkt testutil token signer")
		bundle := filepath.Join(dir, "token-rootcerts.pem")
		if err := os.WriteFile(bundle, signer.certPEM, 0o644); err != nil {
			t.Fatalf("testutil: write token root certificate bundle: %v", err)
		}
		r.tokens = &tokenServer{
			signer: signer, service: TokenService, issuer: TokenIssuer,
			users: users, anonymousPull: opts.TokenAnonymousPull,
		}
		tokenBundle = bundle // auth config written below, once the realm's address is known
	}

	// The front end (token auth) is created before the registry so that its
	// address can go into the registry's configuration.
	var front *httptest.Server
	var frontProxy *httputil.ReverseProxy
	if opts.Token {
		mux := http.NewServeMux()
		front = httptest.NewUnstartedServer(mux)
		r.servers = append(r.servers, front)
		r.Addr = front.Listener.Addr().String()
		realmAddr := r.Addr
		if opts.TokenRealmOtherHost {
			ts := httptest.NewUnstartedServer(r.tokens)
			r.servers = append(r.servers, ts)
			realmAddr = ts.Listener.Addr().String()
			startServer(ts, cert)
		} else {
			mux.Handle("/token/", r.tokens)
		}
		mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) { frontProxy.ServeHTTP(w, req) })
		r.TokenRealm = scheme + "://" + realmAddr + "/token/"
		authYAML = fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			yq(r.TokenRealm), yq(TokenService), yq(TokenIssuer), yq(tokenBundle))
	}

	client := &http.Client{Transport: newTransport(r.CA), Timeout: 5 * time.Second}
	var backend string
	const attempts = 5
	for attempt := 1; ; attempt++ {
		backend = freeLoopbackAddr(t)
		if front == nil {
			r.Addr = backend
		}
		r.URL = scheme + "://" + r.Addr
		cfg := registryConfig(r, backend, scheme, cert, authYAML)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatalf("testutil: write registry config: %v", err)
		}
		r.output.Reset()
		r.cmd = exec.CommandContext(context.Background(), bin, "serve", cfgPath)
		r.cmd.Stdout = r.output
		r.cmd.Stderr = r.output
		r.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		// Pdeathsig kills the registry if the test binary dies before its
		// clean-up runs (a test timeout). It fires when the thread that
		// forked exits, so that thread stays locked to the goroutine that
		// waits for the registry.
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		r.done = make(chan struct{})
		started := make(chan error, 1)
		go func(cmd *exec.Cmd, done chan struct{}) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			defer close(done)
			if err := cmd.Start(); err != nil {
				started <- err
				return
			}
			started <- nil
			_ = cmd.Wait()
		}(r.cmd, r.done)
		if err := <-started; err != nil {
			t.Fatalf("testutil: start %s: %v", bin, err)
		}

		err := waitHealthy(client, scheme+"://"+backend+"/v2/", r.done, 15*time.Second)
		if err == nil {
			break
		}
		r.kill()
		// Another process may have taken the port between our probe and
		// the registry's listen: try another one.
		if attempt < attempts && strings.Contains(r.output.String(), "address already in use") {
			continue
		}
		t.Fatalf("testutil: docker-registry did not come up: %v\nconfig:\n%s\noutput:\n%s", err, cfg, r.output.String())
	}

	if front != nil {
		target := &url.URL{Scheme: scheme, Host: backend}
		frontProxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host // the registry builds its URLs from http.host anyway
			},
			Transport:     newTransport(r.CA),
			FlushInterval: -1,
		}
		startServer(front, cert)
	}

	return r
}

// registryConfig renders distribution's config.yml.
func registryConfig(r *Registry, backend, scheme string, cert *ServerCert, authYAML string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\n")
	fmt.Fprintf(&b, "log:\n  level: error\n  formatter: text\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", yq(r.StorageDir))
	fmt.Fprintf(&b, "  maintenance:\n    uploadpurging:\n      enabled: false\n")
	fmt.Fprintf(&b, "http:\n  addr: %s\n  secret: %s\n  host: %s\n", yq(backend), yq(randomHex(16)), yq(r.URL))
	if cert != nil {
		fmt.Fprintf(&b, "  tls:\n    certificate: %s\n    key: %s\n", yq(cert.CertFile), yq(cert.KeyFile))
	}
	b.WriteString(authYAML)
	return b.String()
}

// yq quotes s as a YAML double-quoted scalar (a JSON string is one).
func yq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func startServer(s *httptest.Server, cert *ServerCert) {
	if cert == nil {
		s.Start()
		return
	}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}
	s.StartTLS()
}

// waitHealthy polls url until it answers 200 or 401, the process exits, or
// the timeout passes.
func waitHealthy(client *http.Client, url string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		resp, err := get(client, url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET %s: status %s", url, resp.Status)
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("registry exited before answering: %w", last)
		case <-deadline.C:
			return fmt.Errorf("timed out after %v: %w", timeout, last)
		case <-tick.C:
		}
	}
}

// get is a GET with a background context (callers bound it with the
// client's timeout).
func get(client *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	return client.Do(req)
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("testutil: find a free port: %v", err)
	}
	return addr
}

func writeHtpasswd(t testing.TB, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	slices.Sort(names)
	for _, u := range names {
		if strings.ContainsAny(u, ":\n") {
			t.Fatalf("testutil: htpasswd user %q: must not contain ':' or newline", u)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("testutil: bcrypt: %v", err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("testutil: write htpasswd: %v", err)
	}
}

// kill stops the registry process: SIGTERM, then SIGKILL after 5 s.
func (r *Registry) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(unix.SIGTERM)
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Stop stops the registry, its front end and its token server. It is safe
// to call more than once; t.Cleanup calls it too.
func (r *Registry) Stop() {
	r.stopOnce.Do(func() {
		r.kill()
		for _, s := range r.servers {
			s.CloseClientConnections()
			s.Close()
		}
	})
}

// Output returns what the registry process wrote to stdout and stderr.
func (r *Registry) Output() string { return r.output.String() }

// TokenRequests returns the requests that reached the token server so far.
func (r *Registry) TokenRequests() []TokenRequest {
	if r.tokens == nil {
		return nil
	}
	return r.tokens.log()
}

// Ref returns "ADDR/repo:tag", or "ADDR/repo@tag" when tag is a digest
// ("sha256:...").
func (r *Registry) Ref(repo, tag string) string {
	if strings.Contains(tag, ":") {
		return r.Addr + "/" + repo + "@" + tag
	}
	return r.Addr + "/" + repo + ":" + tag
}

// Transport returns an HTTP transport for talking to the registry: it
// trusts the registry's CA (if any), never uses a proxy and refuses to dial
// anything but 127.0.0.1.
func (r *Registry) Transport() *http.Transport { return newTransport(r.CA) }

// Auth returns the admin credentials, or authn.Anonymous without auth.
func (r *Registry) Auth() authn.Authenticator {
	if r.Username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.Username, Password: r.Password}
}

// RemoteOptions returns go-containerregistry remote options that reach the
// registry as the admin user.
func (r *Registry) RemoteOptions() []remote.Option {
	return []remote.Option{remote.WithAuth(r.Auth()), remote.WithTransport(r.Transport())}
}

// ParseRef parses ref for go-containerregistry, marking plain-HTTP registries
// insecure.
func (r *Registry) ParseRef(t testing.TB, ref string) name.Reference {
	t.Helper()
	var opts []name.Option
	if r.CA == nil {
		opts = append(opts, name.Insecure)
	}
	parsed, err := name.ParseReference(ref, opts...)
	if err != nil {
		t.Fatalf("testutil: parse reference %q: %v", ref, err)
	}
	return parsed
}

// Push uploads img to ref (as returned by Ref) as the admin user.
func (r *Registry) Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	if err := remote.Write(r.ParseRef(t, ref), img, r.RemoteOptions()...); err != nil {
		t.Fatalf("testutil: push %s: %v", ref, err)
	}
}

// PushIndex uploads idx and the images it references to ref as the admin
// user.
func (r *Registry) PushIndex(t testing.TB, ref string, idx v1.ImageIndex) {
	t.Helper()
	if err := remote.WriteIndex(r.ParseRef(t, ref), idx, r.RemoteOptions()...); err != nil {
		t.Fatalf("testutil: push index %s: %v", ref, err)
	}
}

// newTransport returns a proxy-free transport trusting ca (or the system
// roots when ca is nil).
func newTransport(ca *CA) *http.Transport {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           loopbackOnlyDialer,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if ca != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	}
	return tr
}

// loopbackOnlyDialer refuses to dial anything but 127.0.0.1, so that a
// helper never reaches the network, whatever a test server redirects to.
func loopbackOnlyDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("testutil: dial %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.Equal(loopbackIP) {
		return nil, fmt.Errorf("testutil: refusing to dial %s: only 127.0.0.1 is allowed", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
