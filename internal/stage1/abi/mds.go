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

// MetadataURL is AC_METADATA_URL for an app whose pod reaches the
// metadata service at host (an IP address) and port, with its pod's
// token. getenv gives the port of EnvMDSPort (MDSPort when unset).
func MetadataURL(host, token string, getenv func(string) string) (string, error) {
	if !ValidMDSToken(token) {
		return "", fmt.Errorf("--mds-token: %q is not a metadata service token", token)
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("metadata service host %q is not an IP address", host)
	}
	port := MDSPort
	if v := getenv(EnvMDSPort); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return "", fmt.Errorf("%s=%q is not a port", EnvMDSPort, v)
		}
		port = p
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/" + token, nil
}
