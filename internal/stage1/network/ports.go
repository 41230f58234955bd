package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// PortMapping is one port forward, in the form of the CNI portMappings
// capability argument.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// portmapPlugin is the plugin AddPorts chains when a network has none that
// takes port mappings: the iptables backend, with SNAT so that the host's
// own 127.0.0.1 reaches the pod.
const portmapPlugin = `{"type":"portmap","capabilities":{"portMappings":true},"snat":true}`

// AddPorts gives the forwards to the network rkt 1.x chose for them: the
// first with IP masquerade, else the last. That network gets the portmap
// plugin appended unless one of its plugins already takes port mappings.
func AddPorts(nets []Net, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	if len(nets) == 0 {
		return errors.New("port forwards need a CNI network")
	}
	idx := ForwardableIndex(nets)
	n := &nets[idx]
	if !n.rktOK || !n.rkt.takesPortMappings() {
		var full map[string]json.RawMessage
		var plugins []json.RawMessage
		if err := json.Unmarshal(n.List, &full); err != nil {
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
		if err := json.Unmarshal(full["plugins"], &plugins); err != nil {
			return fmt.Errorf("network %q: plugins: %w", n.Name, err)
		}
		raw, err := json.Marshal(append(plugins, json.RawMessage(portmapPlugin)))
		if err != nil {
			return err
		}
		full["plugins"] = raw
		list, err := json.Marshal(full)
		if err != nil {
			return err
		}
		// The list changed: it is parsed once more, as Setup applies it.
		parsed, err := parseListConf(list)
		if err != nil {
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
		n.List, n.cni, n.rkt, n.rktOK = parsed.List, parsed.cni, parsed.rkt, parsed.rktOK
	}
	n.CapabilityArgs = map[string]any{"portMappings": ports}
	return nil
}

// ForwardableIndex is the index of the network rkt 1.x forwarded ports
// on and pointed the metadata service at: the first with IP masquerade,
// else the last (-1 for none).
func ForwardableIndex(nets []Net) int {
	for i, n := range nets {
		if n.rktOK && n.rkt.masquerades() {
			return i
		}
	}
	return len(nets) - 1
}

// PortMappings resolves the pod manifest's port forwards: each names an
// app port (or carries its own), and forwards Count consecutive ports.
func PortMappings(pm *podinit.PodManifest) ([]PortMapping, error) {
	var out []PortMapping
	for _, ep := range pm.Ports {
		p := ep.PodPort
		if p == nil {
			p = abi.AppPort(pm.Apps, appPorts, func(p *podinit.Port) string { return p.Name }, ep.Name)
		}
		if p == nil {
			return nil, fmt.Errorf("port %q: no app of the pod has a port of that name", ep.Name)
		}
		count := p.Count
		if count == 0 {
			count = 1
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("port %q: protocol %q is not tcp or udp", ep.Name, p.Protocol)
		}
		if ep.HostPort < 1 || p.Port < 1 || ep.HostPort+count-1 > 65535 || p.Port+count-1 > 65535 {
			return nil, fmt.Errorf("port %q: host port %d or pod port %d (count %d) out of range", ep.Name, ep.HostPort, p.Port, count)
		}
		if ep.HostIP != "" && net.ParseIP(ep.HostIP) == nil {
			return nil, fmt.Errorf("port %q: host IP %q is not an IP address", ep.Name, ep.HostIP)
		}
		for i := range count {
			out = append(out, PortMapping{HostPort: int(ep.HostPort + i), ContainerPort: int(p.Port + i), Protocol: p.Protocol, HostIP: ep.HostIP})
		}
	}
	return out, nil
}

// appPorts are the ports of an app of the pod (none without an app
// section).
func appPorts(ra *podinit.RuntimeApp) []podinit.Port {
	if ra.App == nil {
		return nil
	}
	return ra.App.Ports
}
