package network

import "encoding/json"

// pluginConf is what rkt reads of one plugin of a configuration list.
type pluginConf struct {
	Type          string          `json:"type"`
	IPMasq        bool            `json:"ipMasq"`
	RktMasquerade bool            `json:"rktMasquerade"`
	Capabilities  map[string]bool `json:"capabilities"`
	IPAM          struct {
		Type string `json:"type"`
	} `json:"ipam"`
}

// listConf is what rkt reads of a configuration list (the form ParseConf
// gives every file).
type listConf struct {
	RktMasquerade bool         `json:"rktMasquerade"`
	Plugins       []pluginConf `json:"plugins"`
}

// parseList reads a list; ok is false when it is not valid JSON or a
// field rkt reads has another type (l then holds the fields that fit).
func parseList(list []byte) (l listConf, ok bool) {
	return l, json.Unmarshal(list, &l) == nil
}

// rktMasquerade reports whether a list asks for rkt's masquerade
// (MasqueradeKey), at its top level or in its first plugin (where a .conf
// file has it).
func (l listConf) rktMasquerade() bool {
	return l.RktMasquerade || len(l.Plugins) > 0 && l.Plugins[0].RktMasquerade
}

// masquerades reports whether a network masquerades: its first plugin's
// ipMasq (ptp's and bridge's), or rkt's.
func (l listConf) masquerades() bool {
	return l.rktMasquerade() || len(l.Plugins) > 0 && l.Plugins[0].IPMasq
}

// takesPortMappings reports whether a plugin of the list takes the
// portMappings capability.
func (l listConf) takesPortMappings() bool {
	for _, p := range l.Plugins {
		if p.Capabilities["portMappings"] {
			return true
		}
	}
	return false
}

// delNeedsNetNS reports whether a plugin of the list may need the pod's
// namespace for its DEL. Only plugins known not to are let off: ptp and
// bridge without ipMasq (their DEL deletes the pod's interface, which goes
// with the namespace anyway, and with ipMasq finds the rules to remove
// through it), their host-local or static IPAM, and portmap.
func (l listConf) delNeedsNetNS() bool {
	for _, p := range l.Plugins {
		switch {
		case p.Type == "portmap":
		case (p.Type == "ptp" || p.Type == "bridge") && !p.IPMasq &&
			(p.IPAM.Type == "host-local" || p.IPAM.Type == "static"):
		default:
			return true
		}
	}
	return false
}
