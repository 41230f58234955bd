package image

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/errdefs"
)

func TestHostOnly(t *testing.T) {
	tests := map[string]string{
		"example.com":          "example.com",
		"example.com:5000":     "example.com",
		"127.0.0.1:5000":       "127.0.0.1",
		"[::1]:5000":           "[::1]",
		"[::1]":                "[::1]",
		"[fe80::1%eth0]:443":   "[fe80::1%eth0]",
		"localhost:":           "localhost",
		"":                     "",
		"index.docker.io":      "index.docker.io",
		"a:b:c":                "a:b",
		"registry.example.com": "registry.example.com",
	}
	for in, want := range tests {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func authOf(t *testing.T, a authn.Authenticator) authn.AuthConfig {
	t.Helper()
	c, err := authn.Authorization(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return *c
}

func testAuthConfig() *config.Config {
	return &config.Config{
		Auth: map[string]config.Auth{
			"example.com":      {Domain: "example.com", Type: "basic", Credentials: config.Credentials{User: "domuser", Password: "dompass"}},
			"tokens.example":   {Domain: "tokens.example", Type: "oauth", Credentials: config.Credentials{Token: "tok"}},
			"both.example":     {Domain: "both.example", Type: "basic", Credentials: config.Credentials{User: "authuser", Password: "authpass"}},
			"ported.test:8443": {Domain: "ported.test:8443", Type: "basic", Credentials: config.Credentials{User: "portuser", Password: "portpass"}},
		},
		DockerAuth: map[string]config.DockerAuth{
			"quay.io":          {Registry: "quay.io", Credentials: config.Credentials{User: "quser", Password: "qpass"}},
			"127.0.0.1:5000":   {Registry: "127.0.0.1:5000", Credentials: config.Credentials{User: "local", Password: "lpass"}},
			"both.example":     {Registry: "both.example", Credentials: config.Credentials{User: "dockeruser", Password: "dockerpass"}},
			"index.docker.io":  {Registry: "index.docker.io", Credentials: config.Credentials{User: "hub", Password: "hubpass"}},
			"registry.example": {Registry: "registry.example", Credentials: config.Credentials{User: "r", Password: "rp"}},
		},
	}
}

func TestConfigKeychain(t *testing.T) {
	kc := configKeychain{cfg: testAuthConfig()}
	tests := []struct {
		registry string
		want     authn.AuthConfig
	}{
		{"quay.io", authn.AuthConfig{Username: "quser", Password: "qpass"}},
		{"127.0.0.1:5000", authn.AuthConfig{Username: "local", Password: "lpass"}},
		// dockerAuth names registries with their port: no match on another port.
		{"127.0.0.1:5001", authn.AuthConfig{}},
		{"docker.io", authn.AuthConfig{Username: "hub", Password: "hubpass"}},
		// auth entries name domains: any port of the domain matches.
		{"example.com", authn.AuthConfig{Username: "domuser", Password: "dompass"}},
		{"example.com:5000", authn.AuthConfig{Username: "domuser", Password: "dompass"}},
		{"tokens.example", authn.AuthConfig{RegistryToken: "tok"}},
		{"ported.test:8443", authn.AuthConfig{Username: "portuser", Password: "portpass"}},
		{"ported.test", authn.AuthConfig{}},
		// dockerAuth wins over auth for the same host.
		{"both.example", authn.AuthConfig{Username: "dockeruser", Password: "dockerpass"}},
		// No prefix or suffix matching.
		{"sub.example.com", authn.AuthConfig{}},
		{"example.com.evil", authn.AuthConfig{}},
		{"registry.example:443", authn.AuthConfig{}},
		{"unknown.test", authn.AuthConfig{}},
	}
	for _, tc := range tests {
		reg, err := name.NewRegistry(tc.registry)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(reg)
		if err != nil {
			t.Fatalf("%s: %v", tc.registry, err)
		}
		if tc.want == (authn.AuthConfig{}) {
			if a != authn.Anonymous {
				t.Errorf("%s: got %+v, want anonymous", tc.registry, authOf(t, a))
			}
			continue
		}
		if got := authOf(t, a); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.registry, got, tc.want)
		}
	}
}

func TestKeychain(t *testing.T) {
	// Keep the user's own credential files out of the test.
	empty := t.TempDir()
	t.Setenv("DOCKER_CONFIG", empty)
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(empty, "auth.json"))
	t.Setenv("XDG_RUNTIME_DIR", empty)
	t.Setenv("HOME", empty)

	if Keychain(nil) != authn.DefaultKeychain {
		t.Errorf("Keychain(nil) is not the default keychain")
	}
	kc := Keychain(testAuthConfig())
	reg, _ := name.NewRegistry("quay.io")
	a, err := kc.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := authOf(t, a); got.Username != "quser" {
		t.Errorf("quay.io: %+v", got)
	}

	// A registry rkt has no entry for falls back to the docker config.
	dockerCfg := `{"auths":{"other.test":{"auth":"ZHU6ZHA="}}}` // du:dp
	if err := os.WriteFile(filepath.Join(empty, "config.json"), []byte(dockerCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, _ = name.NewRegistry("other.test")
	a, err = kc.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := authOf(t, a); got.Username != "du" || got.Password != "dp" {
		t.Errorf("other.test from docker config: %+v", got)
	}
	reg, _ = name.NewRegistry("none.test")
	if a, err = kc.Resolve(reg); err != nil || a != authn.Anonymous {
		t.Errorf("none.test: %v, %v; want anonymous", a, err)
	}
}

func TestConfigKeychainDockerHubAliases(t *testing.T) {
	// rkt 1.x dockerAuth files name Docker Hub registry-1.docker.io;
	// go-containerregistry calls it index.docker.io.
	cfg := &config.Config{DockerAuth: map[string]config.DockerAuth{
		"registry-1.docker.io": {Registry: "registry-1.docker.io", Credentials: config.Credentials{User: "u", Password: "p"}},
	}}
	reg, err := name.NewRegistry("docker.io")
	if err != nil {
		t.Fatal(err)
	}
	a, err := configKeychain{cfg: cfg}.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := a.Authorization()
	if err != nil || ac.Username != "u" || ac.Password != "p" {
		t.Fatalf("credentials for %s = %+v, %v", reg.RegistryStr(), ac, err)
	}
	other, _ := name.NewRegistry("quay.io")
	a, _ = configKeychain{cfg: cfg}.Resolve(other)
	if ac, _ := a.Authorization(); ac.Username != "" {
		t.Fatalf("Docker Hub credentials offered to quay.io: %+v", ac)
	}
}

func TestAuthHeaders(t *testing.T) {
	cfg := &config.Config{Auth: map[string]config.Auth{
		"basic.test":  {Domain: "basic.test", Type: "basic", Credentials: config.Credentials{User: "u", Password: "p"}},
		"oauth.test":  {Domain: "oauth.test", Type: "oauth", Credentials: config.Credentials{Token: "tok"}},
		"nokey.test":  {Domain: "nokey.test", Type: "oauth"},
		"digest.test": {Domain: "digest.test", Type: "digest", Credentials: config.Credentials{User: "u", Password: "p"}},
	}}
	tests := []struct {
		name, host string
		cfg        *config.Config
		want       string // the Authorization header; "" for none
		wantErr    string
	}{
		{name: "basic", host: "basic.test", cfg: cfg, want: "Basic dTpw"},
		{name: "oauth", host: "oauth.test", cfg: cfg, want: "Bearer tok"},
		{name: "no entry", host: "other.test", cfg: cfg},
		{name: "no prefix matching", host: "sub.basic.test", cfg: cfg},
		{name: "no config", host: "basic.test"},
		{name: "unknown type", host: "digest.test", cfg: cfg, wantErr: `auth.d entry for digest.test: unknown auth type "digest"`},
		{name: "oauth without token", host: "nokey.test", cfg: cfg, wantErr: "oauth needs a token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := authHeaders(tc.cfg, tc.host)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errdefs.Is(err, errdefs.KindInvalidArgument) {
					t.Fatalf("err = %v, want an invalid-argument error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConfigKeychainUnknownAuthType(t *testing.T) {
	cfg := &config.Config{Auth: map[string]config.Auth{
		"example.com": {Domain: "example.com", Type: "digest", Credentials: config.Credentials{User: "u", Password: "p"}},
	}}
	reg, err := name.NewRegistry("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a, err := (configKeychain{cfg: cfg}).Resolve(reg); err == nil || !strings.Contains(err.Error(), `unknown auth type "digest"`) {
		t.Fatalf("Resolve = %v, %v; want an error naming the type", a, err)
	}
}

func TestHTTPClientAuth(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	defer srv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	defer plain.Close()
	auth := func(typ string) *config.Config {
		return &config.Config{Auth: map[string]config.Auth{
			"127.0.0.1": {Domain: "127.0.0.1", Type: typ, Credentials: config.Credentials{User: "u", Password: "p", Token: "tok"}},
		}}
	}
	tests := []struct {
		name    string
		url     string
		cfg     *config.Config
		want    string
		wantErr string
	}{
		{name: "basic over https", url: srv.URL, cfg: auth("basic"), want: "Basic dTpw"},
		{name: "oauth over https", url: srv.URL, cfg: auth("oauth"), want: "Bearer tok"},
		{name: "none over plain http", url: plain.URL, cfg: auth("basic"), want: ""},
		{name: "no configuration", url: srv.URL, want: ""},
		{name: "unknown type", url: srv.URL, cfg: auth("digest"), wantErr: `unknown auth type "digest"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := HTTPClient(RemoteOptions{AllowHTTP: true, SkipTLSVerify: true}, tc.cfg)
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if h := <-got; h != tc.want {
				t.Errorf("Authorization = %q, want %q", h, tc.want)
			}
		})
	}
}
