package abi

import (
	"fmt"
	"net"
	"strconv"
)

// ValidMDSToken says whether a --mds-token is one URL path segment as it
// is, 1 to 256 of [A-Za-z0-9_-] (the metadata service accepts no other).
// A loop, not a regexp: a bounded repetition compiles into 256 states at
// every start of every stage1 process (0.8 ms).
func ValidMDSToken(t string) bool {
	if len(t) == 0 || len(t) > 256 {
		return false
	}
	for _, c := range []byte(t) {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// MDSEndpoint is where a pod's apps reach the metadata service, but for
// the host's address, which depends on the pod's network: the pod's
// token and the service's port.
type MDSEndpoint struct {
	Token string
	Port  int
}

// ParseMDSEndpoint checks a --mds-token and reads the port of EnvMDSPort
// with getenv (MDSPort when unset).
func ParseMDSEndpoint(token string, getenv func(string) string) (MDSEndpoint, error) {
	if !ValidMDSToken(token) {
		return MDSEndpoint{}, fmt.Errorf("--mds-token: %q is not a metadata service token", token)
	}
	e := MDSEndpoint{Token: token, Port: MDSPort}
	if v := getenv(EnvMDSPort); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return MDSEndpoint{}, fmt.Errorf("%s=%q is not a port", EnvMDSPort, v)
		}
		e.Port = p
	}
	return e, nil
}

// URL is AC_METADATA_URL for an app whose pod reaches the service at host
// (an IP address).
func (e MDSEndpoint) URL(host string) (string, error) {
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("metadata service host %q is not an IP address", host)
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(e.Port)) + "/" + e.Token, nil
}
