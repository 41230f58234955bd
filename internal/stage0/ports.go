package stage0

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// ParsePorts reads --port values, NAME:[HOSTIP:]HOSTPORT (an IPv6 HOSTIP
// in brackets), into the pod manifest's exposed ports.
func ParsePorts(values []string) ([]types.ExposedPort, error) {
	var out []types.ExposedPort
	seen := map[string]bool{}
	for _, v := range values {
		bad := func(why string) ([]types.ExposedPort, error) {
			return nil, errdefs.InvalidArgument(fmt.Errorf("--port %q: %s (want NAME:[HOSTIP:]HOSTPORT)", v, why))
		}
		name, rest, ok := strings.Cut(v, ":")
		if !ok {
			return bad("no host port")
		}
		n, err := types.NewACName(name)
		if err != nil {
			return bad("the port name is not an appc name")
		}
		hostIP, hostPort := "", rest
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			hostIP, hostPort = strings.TrimSuffix(strings.TrimPrefix(rest[:i], "["), "]"), rest[i+1:]
		}
		port, err := strconv.ParseUint(hostPort, 10, 16)
		if err != nil || port == 0 {
			return bad("the host port is not a number from 1 to 65535")
		}
		ep := types.ExposedPort{Name: *n, HostPort: uint(port)}
		if hostIP != "" {
			if ep.HostIP = net.ParseIP(hostIP); ep.HostIP == nil {
				return bad("the host IP is not an IP address")
			}
		}
		key := hostIP + "/" + hostPort
		if seen[key] {
			return bad("that host port is forwarded twice")
		}
		seen[key] = true
		out = append(out, ep)
	}
	return out, nil
}

// checkPorts makes sure every forwarded port names a port of an app.
func checkPorts(pm *schema.PodManifest) error {
	for _, ep := range pm.Ports {
		if ep.PodPort != nil {
			continue
		}
		if abi.AppPort(pm.Apps, appPorts, func(p *types.Port) string { return p.Name.String() }, ep.Name.String()) == nil {
			return errdefs.InvalidArgument(fmt.Errorf("--port %s: no app of the pod has a port of that name", ep.Name))
		}
	}
	return nil
}

// appPorts are the ports of an app of the pod (none without an app
// section).
func appPorts(ra *schema.RuntimeApp) []types.Port {
	if ra.App == nil {
		return nil
	}
	return ra.App.Ports
}
