package abi

import "testing"

func TestAppPort(t *testing.T) {
	type port struct{ name, id string }
	type app struct{ ports []port }
	apps := []app{
		{},
		{ports: []port{{"http", "a/http"}, {"dns", "a/dns"}}},
		{ports: []port{{"dns", "b/dns"}, {"ssh", "b/ssh"}}},
	}
	ports := func(a *app) []port { return a.ports }
	name := func(p *port) string { return p.name }
	for _, c := range []struct {
		apps       []app
		name, want string // want: the port's id, "" for none
	}{
		{apps, "http", "a/http"},
		{apps, "dns", "a/dns"}, // the first app's, in manifest order
		{apps, "ssh", "b/ssh"},
		{apps, "nope", ""},
		{apps, "", ""},
		{nil, "http", ""},
	} {
		got := AppPort(c.apps, ports, name, c.name)
		switch {
		case c.want == "" && got != nil:
			t.Errorf("%q: %+v, want none", c.name, *got)
		case c.want != "" && (got == nil || got.id != c.want):
			t.Errorf("%q: %v, want %s", c.name, got, c.want)
		}
	}
	// The port returned is the app's own, not a copy.
	if p := AppPort(apps, ports, name, "ssh"); p != &apps[2].ports[1] {
		t.Error("AppPort returned a copy")
	}
}
