package cli

import (
	"fmt"
	"sort"
	"strings"
)

// insecureOptions is the --insecure-options flag: which security checks
// are turned off.
type insecureOptions struct {
	set map[string]bool
}

// The single options, and the groups that expand to them.
var (
	insecureSingles = []string{"none", "http", "image", "tls", "ondisk", "pubkey", "capabilities", "paths", "seccomp"}
	insecureGroups  = map[string][]string{
		"all-fetch": {"image", "tls", "http"},
		"all-run":   {"capabilities", "paths", "seccomp"},
		"all":       {"http", "image", "tls", "pubkey", "capabilities", "paths", "seccomp"},
	}
)

func insecureNames() []string {
	out := append([]string{}, insecureSingles...)
	for g := range insecureGroups {
		out = append(out, g)
	}
	sort.Strings(out[len(insecureSingles):])
	return out
}

func (o *insecureOptions) Set(s string) error {
	set := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		v = strings.ToLower(strings.TrimSpace(v))
		if g, ok := insecureGroups[v]; ok {
			for _, x := range g {
				set[x] = true
			}
			continue
		}
		known := false
		for _, x := range insecureSingles {
			known = known || x == v
		}
		if !known {
			return fmt.Errorf("unknown insecure option %q (allowed: %s)", v, strings.Join(insecureNames(), ", "))
		}
		if v != "none" && v != "ondisk" {
			set[v] = true
		}
	}
	o.set = set
	return nil
}

func (o *insecureOptions) String() string {
	if len(o.set) == 0 {
		return "none"
	}
	var out []string
	for k := range o.set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (o *insecureOptions) Type() string { return "insecure-options" }

// has reports whether option name is turned off.
func (o *insecureOptions) has(name string) bool { return o.set[name] }
