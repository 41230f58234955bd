package image

import (
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/errdefs"
)

// configKeychain finds registry credentials in rkt's auth.d configuration:
// a dockerAuth entry for the registry, else an auth entry for its domain.
type configKeychain struct{ cfg *config.Config }

func (k configKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	host := r.RegistryStr()
	for _, h := range registryAliases(host) {
		if a, ok := k.cfg.DockerAuth[h]; ok {
			return &authn.Basic{Username: a.Credentials.User, Password: a.Credentials.Password}, nil
		}
	}
	// auth.d entries name domains, without a port.
	for _, h := range []string{host, r.String(), hostOnly(host)} {
		a, ok := k.cfg.Auth[h]
		if !ok {
			continue
		}
		ac, err := authConfig(a)
		if err != nil {
			return nil, err
		}
		if ac.RegistryToken != "" {
			return authn.FromConfig(ac), nil
		}
		return &authn.Basic{Username: ac.Username, Password: ac.Password}, nil
	}
	return authn.Anonymous, nil
}

// authConfig reads an auth.d entry: basic is a user and password, oauth a
// bearer token (RegistryToken is set for oauth only). Any other type is an error naming it: credentials are not
// guessed, and not silently left out either.
func authConfig(a config.Auth) (authn.AuthConfig, error) {
	switch a.Type {
	case "basic":
		return authn.AuthConfig{Username: a.Credentials.User, Password: a.Credentials.Password}, nil
	case "oauth":
		if a.Credentials.Token == "" {
			return authn.AuthConfig{}, errdefs.InvalidArgument(fmt.Errorf("auth.d entry for %s: oauth needs a token", a.Domain))
		}
		return authn.AuthConfig{RegistryToken: a.Credentials.Token}, nil
	}
	return authn.AuthConfig{}, errdefs.InvalidArgument(fmt.Errorf("auth.d entry for %s: unknown auth type %q (want basic or oauth)", a.Domain, a.Type))
}

// authHeaders are the HTTP headers that carry the auth.d credentials of
// host (a domain without a port) for the ACI, discovery and key downloads:
// none when no entry names host.
func authHeaders(cfg *config.Config, host string) (http.Header, error) {
	if cfg == nil {
		return nil, nil
	}
	a, ok := cfg.Auth[host]
	if !ok {
		return nil, nil
	}
	ac, err := authConfig(a)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if ac.RegistryToken != "" {
		h.Set("Authorization", "Bearer "+ac.RegistryToken)
		return h, nil
	}
	req := &http.Request{Header: h}
	req.SetBasicAuth(ac.Username, ac.Password)
	return h, nil
}

// dockerHubNames are the names Docker Hub goes by: rkt 1.x wrote
// registry-1.docker.io in dockerAuth files, go-containerregistry says
// index.docker.io.
var dockerHubNames = []string{"index.docker.io", "registry-1.docker.io", "docker.io"}

func registryAliases(host string) []string {
	for _, n := range dockerHubNames {
		if host == n {
			return dockerHubNames
		}
	}
	return []string{host}
}

func hostOnly(hostport string) string {
	for i := len(hostport) - 1; i >= 0; i-- {
		switch hostport[i] {
		case ':':
			return hostport[:i]
		case ']':
			return hostport
		}
	}
	return hostport
}

// Keychain returns the credentials rkt uses for registries: its own auth.d
// configuration first, then the Docker and Podman credential files
// (~/.docker/config.json, $DOCKER_CONFIG, $REGISTRY_AUTH_FILE).
func Keychain(cfg *config.Config) authn.Keychain {
	if cfg == nil {
		return authn.DefaultKeychain
	}
	return authn.NewMultiKeychain(configKeychain{cfg: cfg}, authn.DefaultKeychain)
}
