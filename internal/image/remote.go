package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/errdefs"
)

// RemoteOptions configure registry access.
type RemoteOptions struct {
	// AllowHTTP permits plain HTTP (--insecure-options=http).
	AllowHTTP bool
	// SkipTLSVerify accepts any TLS certificate (--insecure-options=tls).
	SkipTLSVerify bool
	// Keychain finds credentials for a registry; nil means anonymous.
	Keychain authn.Keychain
	// UserAgent is sent with every request.
	UserAgent string
	// Stored, when set, returns a manifest or config blob the caller
	// already has (at most limit bytes), so that it is not downloaded
	// again. What it returns is checked against the digest like a
	// download.
	Stored func(d digest.Digest, limit int64) ([]byte, bool)
}

// manifestAccept lists the manifest types rkt understands, best first.
var manifestAccept = strings.Join([]string{
	string(types.OCIImageIndex),
	string(types.OCIManifestSchema1),
	string(types.DockerManifestList),
	string(types.DockerManifestSchema2),
}, ", ")

type remoteSource struct {
	ref    name.Reference
	client *http.Client
	opts   RemoteOptions
}

// errPlainHTTP is returned when a registry would be reached over plain HTTP
// without --insecure-options=http.
var errPlainHTTP = errors.New("plain HTTP is not allowed (use --insecure-options=http)")

// guardTransport enforces the insecure options on every request, including
// token requests and redirects.
type guardTransport struct {
	inner     http.RoundTripper
	allowHTTP bool
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowHTTP {
		return nil, fmt.Errorf("%s: %w", req.URL.Host, errPlainHTTP)
	}
	return g.inner.RoundTrip(req)
}

// NewRemote opens the registry that ref names, authenticating for pull.
func NewRemote(ctx context.Context, ref *Reference, opts RemoteOptions) (Source, error) {
	if ref.Transport != Docker {
		return nil, fmt.Errorf("image %q is not a registry image", ref.Input)
	}
	r := ref.Docker
	if opts.AllowHTTP {
		var err error
		if r, err = name.ParseReference(r.String(), name.Insecure); err != nil {
			return nil, err
		}
	}
	rt := baseTransport(opts)
	kc := opts.Keychain
	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	reg := r.Context().Registry
	auth, err := kc.Resolve(reg)
	if err != nil {
		return nil, fmt.Errorf("registry %s: credentials: %w", reg.RegistryStr(), err)
	}
	scope := r.Context().Scope(transport.PullScope)
	t, err := transport.NewWithContext(ctx, reg, auth, rt, []string{scope})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", reg.RegistryStr(), registryError(err))
	}
	client := &http.Client{Transport: t, CheckRedirect: redirectPolicy(opts)}
	return &remoteSource{ref: r, client: client, opts: opts}, nil
}

// baseTransport is the transport of every image download: TLS as the
// options say (and SSL_CERT_FILE), plain HTTP refused unless allowed, on
// every request including redirects, and rkt's user agent.
func baseTransport(opts RemoteOptions) http.RoundTripper {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if opts.SkipTLSVerify {
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure-options=tls asks for exactly this
	}
	base.MaxIdleConnsPerHost = 8
	return transport.NewUserAgent(&guardTransport{inner: base, allowHTTP: opts.AllowHTTP}, opts.UserAgent)
}

// redirectPolicy refuses long redirect chains, redirects to URLs with
// credentials, and redirects from https to http unless HTTP is allowed.
func redirectPolicy(opts RemoteOptions) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if req.URL.User != nil {
			return fmt.Errorf("refusing redirect to %s: the URL carries credentials", req.URL.Redacted())
		}
		if req.URL.Scheme == "http" && via[0].URL.Scheme == "https" && !opts.AllowHTTP {
			return fmt.Errorf("refusing redirect from https to %s: %w", req.URL.Redacted(), errPlainHTTP)
		}
		return nil
	}
}

// HTTPClient is a client for plain HTTP(S) image downloads (ACIs,
// discovery, keys) under the same rules as registry access. With auth set
// (rkt's configuration), each https request carries the auth.d
// credentials of its host (authHeaders), which go only to the host they
// were asked for; an entry that cannot be used fails the request.
func HTTPClient(opts RemoteOptions, auth *config.Config) *http.Client {
	rt := baseTransport(opts)
	if auth != nil && len(auth.Auth) > 0 {
		rt = &headerTransport{inner: rt, cfg: auth}
	}
	return &http.Client{Transport: rt, CheckRedirect: redirectPolicy(opts)}
}

type headerTransport struct {
	inner http.RoundTripper
	cfg   *config.Config
}

func (h *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return h.inner.RoundTrip(req)
	}
	extra, err := authHeaders(h.cfg, req.URL.Hostname())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if len(extra) == 0 {
		return h.inner.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	for k, vs := range extra {
		req.Header[k] = vs
	}
	return h.inner.RoundTrip(req)
}

// registryError classifies transport errors for the CLI.
func registryError(err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		// The plain-HTTP fallback error that comes with it would only
		// mislead: say what is wrong with TLS.
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			err = verr
		}
		return errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("%w (trust the registry's CA, e.g. with SSL_CERT_FILE, or use --insecure-options=tls)", err))
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.WithKind(errdefs.KindPermission, err)
		case http.StatusNotFound:
			return errdefs.NotFound(err)
		}
	}
	return err
}

func (s *remoteSource) url(kind, ref string) string {
	reg := s.ref.Context().Registry
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", reg.Scheme(), reg.RegistryStr(), s.ref.Context().RepositoryStr(), kind, ref)
}

func (s *remoteSource) get(ctx context.Context, url, accept string, expect ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, registryError(redactURLError(err))
	}
	if err := transport.CheckError(resp, expect...); err != nil {
		resp.Body.Close()
		return nil, registryError(err)
	}
	return resp, nil
}

// redactURLError hides the password of the URL in a *url.Error: net/http
// puts the Location of a redirect that CheckRedirect refused there as sent.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Redacted()
		}
	}
	return err
}

// readLimited reads a whole body of at most limit bytes, refusing at once
// a body whose announced length is over it.
func readLimited(what string, resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, errdefs.TooLarge(fmt.Errorf("%s: size %d is over the %d byte limit", what, resp.ContentLength, limit))
	}
	return ReadLimited(resp.Body, limit, what)
}

// ReadLimited reads r to its end, at most limit bytes: hostile content is
// never read whole before its size is known to be acceptable. More is an
// errdefs.TooLarge error naming what.
func ReadLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, errdefs.TooLarge(fmt.Errorf("%s: larger than the %d byte limit", what, limit))
	}
	return b, nil
}

func (s *remoteSource) Resolve(ctx context.Context) (*Resolved, error) {
	var known digest.Digest
	id := s.ref.Identifier()
	if d, ok := s.ref.(name.Digest); ok {
		known = digest.Digest(d.DigestStr())
		id = known.String()
	}
	resp, err := s.get(ctx, s.url("manifests", id), manifestAccept, http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("get manifest %s: %w", s.ref, err)
	}
	ct := resp.Header.Get("Content-Type")
	sent := resp.Header.Get("Docker-Content-Digest")
	raw, err := readLimited("manifest "+s.ref.String(), resp, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	if known != "" {
		if err := verify("manifest "+s.ref.String(), known, raw); err != nil {
			return nil, err
		}
	} else if sent != "" {
		// By tag, the registry's Docker-Content-Digest is the only digest
		// the manifest can be checked against.
		d, err := digest.Parse(sent)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: invalid Docker-Content-Digest %q: %w", s.ref, sent, err)
		}
		if err := verify("manifest "+s.ref.String()+" (Docker-Content-Digest)", d, raw); err != nil {
			return nil, err
		}
	}
	name := s.ref.Name()
	r, err := resolve(name, ct, raw, known, func(d v1.Descriptor, limit int64) ([]byte, error) {
		if s.opts.Stored != nil {
			if b, ok := s.opts.Stored(digest.Digest(d.Digest.String()), min(limit, d.Size)); ok {
				return b, nil
			}
		}
		kind := "blobs"
		if d.MediaType.IsImage() || d.MediaType.IsIndex() {
			kind = "manifests"
		}
		resp, err := s.get(ctx, s.url(kind, d.Digest.String()), manifestAccept, http.StatusOK)
		if err != nil {
			return nil, err
		}
		return readLimited(d.Digest.String(), resp, min(limit, d.Size))
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.ref, err)
	}
	return r, nil
}

func (s *remoteSource) OpenBlob(ctx context.Context, d digest.Digest, size int64) (io.ReadCloser, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	resp, err := s.get(ctx, s.url("blobs", d.String()), "", http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", d, err)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		resp.Body.Close()
		return nil, errdefs.DigestMismatch(fmt.Errorf("blob %s: registry sends %s bytes, manifest says %d", d, strconv.FormatInt(resp.ContentLength, 10), size))
	}
	return newLimitedBlob(resp.Body, d, size), nil
}

func (s *remoteSource) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
