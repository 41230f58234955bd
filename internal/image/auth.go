package image

import (
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/rkt/rkt/internal/config"
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
		if a.Type == "oauth" {
			return authn.FromConfig(authn.AuthConfig{RegistryToken: a.Credentials.Token}), nil
		}
		return &authn.Basic{Username: a.Credentials.User, Password: a.Credentials.Password}, nil
	}
	return authn.Anonymous, nil
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
