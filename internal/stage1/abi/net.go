package abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Networking modes of --net that are not CNI network names.
const (
	NetHost    = "host"    // the caller's network namespace
	NetNone    = "none"    // a network namespace with loopback only
	NetAll     = "all"     // every configured network, and default
	NetDefault = "default" // the built-in (or overridden) default network
)

// NetNS is the pod directory file that names the pod's network namespace
// (a bind mount of it) while CNI networks are attached; stage1 removes it
// once every network is torn down.
const NetNS = "netns"

// CNICache is the libcni cache of the pod's attachments (results and the
// configurations DEL needs), under the stage1 state directory.
const CNICache = "stage1/rkt/cni"

// NetRequest is one network of --net: a name and its CNI_ARGS.
type NetRequest struct {
	Name string
	// Args is "K=V;K=V", given to the network's plugins as CNI_ARGS.
	Args string
}

// ValidNetName says whether n may be a CNI network's name (the CNI
// spec's rule, ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$). A loop, not a regexp
// compiled at every start of every process linking this package.
func ValidNetName(n string) bool {
	for i, c := range []byte(n) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return n != ""
}

// ParseNets parses --net values (each a comma-separated list of
// NAME[:K=V;K=V]; several --net flags add up). An empty list, or "", is
// the default network. host and none stand alone; host, none and all take
// no arguments; a name may appear once.
func ParseNets(values []string) ([]NetRequest, error) {
	var out []NetRequest
	seen := map[string]bool{}
	for _, v := range values {
		if v == "" {
			v = NetDefault
		}
		for _, item := range strings.Split(v, ",") {
			name, args, hasArgs := strings.Cut(item, ":")
			if name == "" {
				return nil, fmt.Errorf("--net %q: empty network name", v)
			}
			if !ValidNetName(name) {
				return nil, fmt.Errorf("--net: invalid network name %q", name)
			}
			if seen[name] {
				return nil, fmt.Errorf("--net: network %q given more than once", name)
			}
			seen[name] = true
			if hasArgs {
				if name == NetHost || name == NetNone || name == NetAll {
					return nil, fmt.Errorf("--net: the %q network takes no arguments", name)
				}
				if err := checkNetArgs(args); err != nil {
					return nil, fmt.Errorf("--net: network %q: %w", name, err)
				}
			}
			out = append(out, NetRequest{Name: name, Args: args})
		}
	}
	if len(out) == 0 {
		out = []NetRequest{{Name: NetDefault}}
	}
	if len(out) > 1 && (seen[NetHost] || seen[NetNone]) {
		return nil, errors.New("--net: host and none cannot be combined with other networks")
	}
	return out, nil
}

// checkNetArgs accepts "K=V;K=V" with non-empty keys and no characters
// that would change how CNI_ARGS splits.
func checkNetArgs(args string) error {
	if args == "" {
		return errors.New("empty arguments after ':'")
	}
	for _, kv := range strings.Split(args, ";") {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(kv, ",\x00\n") {
			return fmt.Errorf("argument %q is not K=V", kv)
		}
	}
	return nil
}

// FormatNets renders requests back into one --net value.
func FormatNets(reqs []NetRequest) string {
	parts := make([]string, 0, len(reqs))
	for _, r := range reqs {
		if r.Args != "" {
			parts = append(parts, r.Name+":"+r.Args)
		} else {
			parts = append(parts, r.Name)
		}
	}
	return strings.Join(parts, ",")
}

// NetsMode says whether requests are host networking, no networking, or
// CNI networks (the empty string).
func NetsMode(reqs []NetRequest) string {
	if len(reqs) == 1 && (reqs[0].Name == NetHost || reqs[0].Name == NetNone) {
		return reqs[0].Name
	}
	return ""
}

// NetInfoV1 is one network of a pod as rkt 1.x recorded and showed it
// (net-info.json, and the networks of rkt status --format=json).
type NetInfoV1 struct {
	NetName string `json:"netName"`
	// ConfPath is the configuration file the network came from.
	ConfPath string `json:"netConf"`
	// PluginPath is the main plugin's executable.
	PluginPath string `json:"pluginPath"`
	IfName     string `json:"ifName"`
	IP         string `json:"ip"`
	Args       string `json:"args"`
	Mask       string `json:"mask"`
}

// Network is one attached network, as the pod directory's net-info.json
// lists them: rkt 1.x's fields, then what teardown needs.
type Network struct {
	NetInfoV1
	HostIP string `json:"hostIP,omitempty"`
	// Config is the network configuration list exactly as it was applied
	// (with the portmap plugin added for --port), so that DEL gets what
	// ADD got even when net.d changed meanwhile.
	Config json.RawMessage `json:"config"`
	// CapabilityArgs are the CNI runtime capability arguments of ADD
	// (portMappings), which DEL needs too.
	CapabilityArgs map[string]any `json:"capabilityArgs,omitempty"`
	// DNS is the CNI result's DNS configuration, if any.
	DNS *NetDNS `json:"dns,omitempty"`
}

// NetDNS is the DNS part of a CNI result.
type NetDNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// ResolvConf renders the configuration as a resolv.conf under a comment
// line: search, nameserver lines, options, domain. Values with white space
// in them, which would change the file's meaning, are left out.
func (d NetDNS) ResolvConf(comment string) string {
	var b strings.Builder
	b.WriteString("# " + comment + "\n")
	words := func(vs []string) []string {
		var out []string
		for _, v := range vs {
			if v != "" && !strings.ContainsAny(v, " \t\r\n\x00") {
				out = append(out, v)
			}
		}
		return out
	}
	if s := words(d.Search); len(s) > 0 {
		b.WriteString("search " + strings.Join(s, " ") + "\n")
	}
	for _, s := range words(d.Nameservers) {
		b.WriteString("nameserver " + s + "\n")
	}
	if o := words(d.Options); len(o) > 0 {
		b.WriteString("options " + strings.Join(o, " ") + "\n")
	}
	if dom := words([]string{d.Domain}); len(dom) > 0 {
		b.WriteString("domain " + dom[0] + "\n")
	}
	return b.String()
}
