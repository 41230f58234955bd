package abi

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// mdsTokenRE is what a --mds-token may be made of: one URL path segment
// as it is (the metadata service accepts no other).
var mdsTokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// MetadataURL is AC_METADATA_URL for an app whose pod reaches the
// metadata service at host (an IP address) and port, with its pod's
// token. getenv gives the port of EnvMDSPort (MDSPort when unset).
func MetadataURL(host, token string, getenv func(string) string) (string, error) {
	if !mdsTokenRE.MatchString(token) {
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
