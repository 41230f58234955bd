package podinit

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/caps"
	"github.com/rkt/rkt/internal/isolation/seccomp"
)

func iso(name, value string) Isolator { return Isolator{Name: name, Value: json.RawMessage(value)} }

func TestPlanSecurity(t *testing.T) {
	kill, _ := caps.ParseSet([]string{"CAP_KILL"})
	admin, _ := caps.ParseSet([]string{"CAP_SYS_ADMIN"})
	cases := []struct {
		name string
		isos []Isolator
		uid  int
		cfg  Config
		err  string
		test func(t *testing.T, s Security)
	}{
		{name: "defaults", test: func(t *testing.T, s Security) {
			if s.Bounding != caps.Default || s.AllCaps || s.NoNewPrivs || s.OOMScoreAdj != nil {
				t.Errorf("%+v", s)
			}
			if s.Seccomp == nil || s.Seccomp.Mode != seccomp.Retain || s.Seccomp.Set[0] != seccomp.GroupRktWhitelist {
				t.Errorf("default filter: %+v", s.Seccomp)
			}
			if !s.SeccompOptions().DenyNamespaces {
				t.Error("namespaces allowed by default")
			}
		}},
		{name: "non-root gets no_new_privs with seccomp", uid: 1000, test: func(t *testing.T, s Security) {
			if !s.NoNewPrivs {
				t.Error("no no_new_privs")
			}
		}},
		{name: "non-root without seccomp", uid: 1000, cfg: Config{DisableSeccomp: true}, test: func(t *testing.T, s Security) {
			if s.NoNewPrivs || s.Seccomp != nil {
				t.Errorf("%+v", s)
			}
		}},
		{name: "insecure capabilities", cfg: Config{DisableCapabilities: true}, test: func(t *testing.T, s Security) {
			if !s.AllCaps || s.SeccompOptions().DenyNamespaces {
				t.Errorf("%+v", s)
			}
		}},
		{name: "retain", isos: []Isolator{iso(caps.RetainSetName, `{"set":["CAP_KILL"]}`)}, test: func(t *testing.T, s Security) {
			if s.Bounding != kill {
				t.Errorf("bounding %s", s.Bounding)
			}
		}},
		{name: "retain admin allows namespaces", isos: []Isolator{iso(caps.RetainSetName, `{"set":["CAP_SYS_ADMIN"]}`)}, test: func(t *testing.T, s Security) {
			if s.Bounding != admin || s.SeccompOptions().DenyNamespaces {
				t.Errorf("%+v", s)
			}
		}},
		{name: "remove", isos: []Isolator{iso(caps.RemoveSetName, `{"set":["CAP_KILL"]}`)}, test: func(t *testing.T, s Security) {
			if s.Bounding != caps.Default&^kill || s.Bounding.Has(unix.CAP_KILL) {
				t.Errorf("bounding %s", s.Bounding)
			}
		}},
		{name: "nnp and oom", isos: []Isolator{iso(IsolatorNoNewPrivs, `true`), iso(IsolatorOOMScoreAdj, `-17`)}, test: func(t *testing.T, s Security) {
			if !s.NoNewPrivs || s.OOMScoreAdj == nil || *s.OOMScoreAdj != -17 {
				t.Errorf("%+v", s)
			}
		}},
		{name: "seccomp remove", isos: []Isolator{iso(seccomp.RemoveSetName, `{"set":["keyctl"],"errno":"ENOTSUP"}`)}, test: func(t *testing.T, s Security) {
			if s.Seccomp == nil || s.Seccomp.Mode != seccomp.Remove || s.Seccomp.Errno != "ENOTSUP" {
				t.Errorf("%+v", s.Seccomp)
			}
		}},
		{name: "both caps", isos: []Isolator{iso(caps.RetainSetName, `{"set":["CAP_KILL"]}`), iso(caps.RemoveSetName, `{"set":["CAP_KILL"]}`)}, err: "mutually exclusive"},
		{name: "both seccomp", isos: []Isolator{iso(seccomp.RetainSetName, `{"set":["read"]}`), iso(seccomp.RemoveSetName, `{"set":["keyctl"]}`)}, err: "mutually exclusive"},
		{name: "twice", isos: []Isolator{iso(IsolatorNoNewPrivs, `true`), iso(IsolatorNoNewPrivs, `false`)}, err: "twice"},
		{name: "unknown cap", isos: []Isolator{iso(caps.RetainSetName, `{"set":["CAP_NOPE"]}`)}, err: "CAP_NOPE"},
		{name: "empty set", isos: []Isolator{iso(caps.RetainSetName, `{"set":[]}`)}, err: "empty"},
		{name: "extra field", isos: []Isolator{iso(caps.RetainSetName, `{"set":["CAP_KILL"],"x":1}`)}, err: "unknown field"},
		{name: "trailing", isos: []Isolator{iso(IsolatorNoNewPrivs, `true true`)}, err: "trailing"},
		{name: "oom range", isos: []Isolator{iso(IsolatorOOMScoreAdj, `1001`)}, err: "outside"},
		{name: "bad syscall", isos: []Isolator{iso(seccomp.RetainSetName, `{"set":["nosuch"]}`)}, err: "nosuch"},
		{name: "unsupported", isos: []Isolator{iso("resource/network-bandwidth", `{"limit":"1G"}`)}, err: "not supported"},
		{name: "no value", isos: []Isolator{{Name: IsolatorNoNewPrivs}}, err: "no value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := planSecurity(c.isos, c.uid, c.cfg)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.test(t, s)
		})
	}
}

// FuzzPlanSecurity: any isolator list decodes to a Security whose filter
// compiles, or to an error; never a panic.
func FuzzPlanSecurity(f *testing.F) {
	f.Add(caps.RetainSetName, `{"set":["CAP_KILL"]}`, seccomp.RemoveSetName, `{"set":["keyctl"],"errno":"ENOTSUP"}`)
	f.Add(IsolatorOOMScoreAdj, `12`, seccomp.RetainSetName, `{"set":["@rkt/default-whitelist","x"]}`)
	f.Add(IsolatorNoNewPrivs, `true`, caps.RemoveSetName, `{"set":["net_raw"]}`)
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		s, err := planSecurity([]Isolator{iso(n1, v1), iso(n2, v2)}, 1, Config{})
		if err != nil {
			return
		}
		if s.Seccomp == nil {
			t.Fatal("no filter without --insecure-options=seccomp")
		}
		if _, err := seccomp.Compile(*s.Seccomp, s.SeccompOptions()); err != nil {
			t.Fatalf("accepted a filter that does not compile: %v", err)
		}
		if !s.NoNewPrivs {
			t.Fatal("a non-root app with a filter lacks no_new_privs")
		}
	})
}
