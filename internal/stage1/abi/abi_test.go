package abi

import (
	"reflect"
	"strings"
	"testing"
)

const testUUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

func TestRunArgsRoundTrip(t *testing.T) {
	for _, a := range []RunArgs{
		{UUID: testUUID},
		{Debug: true, Net: "host", Interactive: true, Hostname: "h", IPC: "private", UUID: testUUID},
		{Net: "default,mynet:IP=10.1.1.5", PrivateUsers: "65536:65536", MDSToken: "t", LocalConfig: "/etc/rkt",
			DisableCapabilities: true, DisablePaths: true, DisableSeccomp: true, DNSConfMode: "resolv=host,hosts=default",
			Mutable: true, IPC: "parent", UUID: testUUID},
	} {
		got, err := ParseRunArgs(a.Argv())
		if err != nil {
			t.Fatalf("ParseRunArgs(%q): %v", a.Argv(), err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("round trip of %+v gave %+v", a, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func([]string) error
		args  []string
	}{
		{"run no uuid", func(a []string) error { _, err := ParseRunArgs(a); return err }, []string{"--net=host"}},
		{"run two uuids", func(a []string) error { _, err := ParseRunArgs(a); return err }, []string{testUUID, testUUID}},
		{"run bad uuid", func(a []string) error { _, err := ParseRunArgs(a); return err }, []string{"../../etc"}},
		{"run bad ipc", func(a []string) error { _, err := ParseRunArgs(a); return err }, []string{"--ipc=host", testUUID}},
		{"run unknown flag", func(a []string) error { _, err := ParseRunArgs(a); return err }, []string{"--bogus", testUUID}},
		{"enter no pid", func(a []string) error { _, err := ParseEnterArgs(a); return err }, []string{"--appname=a", "--", "sh"}},
		{"enter no app", func(a []string) error { _, err := ParseEnterArgs(a); return err }, []string{"--pid=1", "--", "sh"}},
		{"enter no cmd", func(a []string) error { _, err := ParseEnterArgs(a); return err }, []string{"--pid=1", "--appname=a", "--"}},
		{"enter path app", func(a []string) error { _, err := ParseEnterArgs(a); return err }, []string{"--pid=1", "--appname=../a", "--", "sh"}},
		{"enter upper-case app", func(a []string) error { _, err := ParseEnterArgs(a); return err }, []string{"--pid=1", "--appname=Web", "--", "sh"}},
		{"gc upper case uuid", func(a []string) error { _, err := ParseGCArgs(a); return err }, []string{"0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"}},
		{"stop no uuid", func(a []string) error { _, err := ParseStopArgs(a); return err }, []string{"--force"}},
	} {
		if err := tc.parse(tc.args); err == nil {
			t.Errorf("%s: %q parsed without error", tc.name, tc.args)
		}
	}
}

func TestOtherArgsRoundTrip(t *testing.T) {
	e := EnterArgs{PID: 42, AppName: "web", Cmd: []string{"/bin/sh", "-c", "echo --pid=1"}}
	if got, err := ParseEnterArgs(e.Argv()); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("enter round trip = %+v, %v", got, err)
	}
	g := GCArgs{Debug: true, LocalConfig: "/etc/rkt", UUID: testUUID}
	if got, err := ParseGCArgs(g.Argv()); err != nil || got != g {
		t.Errorf("gc round trip = %+v, %v", got, err)
	}
	s := StopArgs{Force: true, UUID: testUUID}
	if got, err := ParseStopArgs(s.Argv()); err != nil || got != s {
		t.Errorf("stop round trip = %+v, %v", got, err)
	}
}

func FuzzParseRunArgs(f *testing.F) {
	f.Add("--net=host\x00" + testUUID)
	f.Add("--ipc=private\x00--hostname=x\x00" + testUUID)
	f.Fuzz(func(t *testing.T, s string) {
		args := splitNUL(s)
		a, err := ParseRunArgs(args)
		if err != nil {
			return
		}
		if !validUUID(a.UUID) {
			t.Fatalf("accepted UUID %q", a.UUID)
		}
		b, err := ParseRunArgs(a.Argv())
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("re-parse of %q = %+v, %v; want %+v", a.Argv(), b, err, a)
		}
	})
}

func splitNUL(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestDNSConfMode(t *testing.T) {
	for in, want := range map[string]DNSConf{
		"":                             {Resolv: "default", Hosts: "default"},
		"resolv=host,hosts=stage0":     {Resolv: "host", Hosts: "stage0"},
		"resolv=none":                  {Resolv: "none", Hosts: "default"},
		"hosts=host":                   {Resolv: "default", Hosts: "host"},
		"resolv=stage0,hosts=host":     {Resolv: "stage0", Hosts: "host"},
		"resolv=default,hosts=default": {Resolv: "default", Hosts: "default"},
	} {
		got, err := ParseDNSConfMode(in)
		if err != nil || got != want {
			t.Errorf("ParseDNSConfMode(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseDNSConfMode(got.String()); err != nil || back != got {
			t.Errorf("%q does not round-trip: %q -> %+v, %v", in, got.String(), back, err)
		}
	}
	for _, bad := range []string{"resolv=bogus", "hosts=none", "x=y", "resolv", "resolv=host;hosts=host"} {
		if _, err := ParseDNSConfMode(bad); err == nil {
			t.Errorf("ParseDNSConfMode(%q): no error", bad)
		}
		if _, err := ParseRunArgs([]string{"--dns-conf-mode=" + bad, "01234567-89ab-cdef-0123-456789abcdef"}); err == nil {
			t.Errorf("ParseRunArgs with --dns-conf-mode=%q: no error", bad)
		}
	}
}

func TestMDSEndpoint(t *testing.T) {
	tok := "0123456789abcdef0123456789abcdef"
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvMDSPort {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		host, token, port, want string
		ok                      bool
	}{
		{"172.16.28.1", tok, "", "http://172.16.28.1:18112/" + tok, true},
		{"127.0.0.1", tok, "40001", "http://127.0.0.1:40001/" + tok, true},
		{"fd00::1", tok, "", "http://[fd00::1]:18112/" + tok, true},
		{"172.16.28.1", tok + "/../x", "", "", false},
		{"172.16.28.1", "", "", "", false},
		{"172.16.28.1", tok + "?a=b", "", "", false},
		{"172.16.28.1", strings.Repeat("a", 256), "", "http://172.16.28.1:18112/" + strings.Repeat("a", 256), true},
		{"172.16.28.1", strings.Repeat("a", 257), "", "", false},
		{"172.16.28.1", "A-z_9", "", "http://172.16.28.1:18112/A-z_9", true},
		{"172.16.28.1", "a b", "", "", false},
		{"172.16.28.1", "é", "", "", false},
		{"", tok, "", "", false},
		{"evil.example.com", tok, "", "", false},
		{"127.0.0.1", tok, "0", "", false},
		{"127.0.0.1", tok, "70000", "", false},
		{"127.0.0.1", tok, "80x", "", false},
	}
	for _, tc := range tests {
		e, err := ParseMDSEndpoint(tc.token, env(tc.port))
		got := ""
		if err == nil {
			got, err = e.URL(tc.host)
		}
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMDSEndpoint(%q, port %q).URL(%q) = %q, %v; want %q (ok %v)", tc.token, tc.port, tc.host, got, err, tc.want, tc.ok)
		}
	}
}
