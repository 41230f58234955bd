package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile feeds arbitrary bytes as one configuration file of each
// kind directory and checks that Load never panics and that what it accepts
// is valid.
func FuzzConfigFile(f *testing.F) {
	seeds := []string{
		basicAuth("u", "p", "a.example.com"),
		basicAuth("u", "", "a.example.com", "b.example.com"),
		oauth("tok", "a.example.com"),
		dockerAuth("u", "p", "quay.io", "localhost:5000"),
		`{"rktKind":"paths","rktVersion":"v1","data":"/var/lib/rkt","stage1-images":"/usr/lib/rkt"}`,
		`{"rktKind":"paths","rktVersion":"v1","data":"rel"}`,
		`{"rktKind":"stage1","rktVersion":"v1","name":"coreos.com/rkt/stage1-coreos","version":"1.30.0","location":"/s.aci"}`,
		`{"rktKind":"stage1","rktVersion":"v1","name":"n"}`,
		`{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"aws","credentials":{"accessKeyID":"x"}}`,
		`{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":null}`,
		`{"rktKind":"auth","rktVersion":"v1","domains":null,"type":"oauth","credentials":{"token":"t"}}`,
		`{"rktKind":"auth","rktVersion":"v1","DOMAINS":["a"],"Type":"basic","credentials":{"User":"u"}}`,
		`{"RKTKIND":"auth","rktVersion":"v1"}`,
		`{"rktKind":"auth","rktVersion":"v1","rktKind":"dockerAuth"}`,
		`{"rktKind":"dockerAuth","rktVersion":"v1","registries":["a","a"],"credentials":{"user":"u"}}`,
		`null`, `[]`, `{}`, `"v1"`, `{"rktVersion":1}`, ``, "\xff\xfe", `{"rktKind":"paths","rktVersion":"v1"}{"x":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// One directory per kind, made once: the fuzz function runs one input
	// at a time in each worker process, and a fresh TempDir per input makes
	// fuzzing disk-bound.
	root := f.TempDir()
	subs := []string{"auth.d", "paths.d", "stage1.d"}
	for _, sub := range subs {
		if err := os.MkdirAll(filepath.Join(root, sub, sub), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, sub := range subs {
			dir := filepath.Join(root, sub)
			if err := os.WriteFile(filepath.Join(dir, sub, "f.json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(Dirs{User: dir})
			if err != nil {
				if c != nil {
					t.Fatalf("Load returned a config with error %v", err)
				}
				continue
			}
			checkConfig(t, c)
		}
	})
}

// checkConfig asserts the invariants of a loaded configuration.
func checkConfig(t *testing.T, c *Config) {
	t.Helper()
	for d, a := range c.Auth {
		if d == "" || a.Domain != d {
			t.Fatalf("auth entry %q has domain %q", d, a.Domain)
		}
		switch a.Type {
		case "basic":
			if a.Credentials.User == "" || a.Credentials.Token != "" {
				t.Fatalf("basic auth for %q accepted with %+v", d, a.Credentials)
			}
		case "oauth":
			if a.Credentials.Token == "" || a.Credentials.User != "" || a.Credentials.Password != "" {
				t.Fatalf("oauth auth for %q accepted with %+v", d, a.Credentials)
			}
		default:
			t.Fatalf("auth for %q accepted with type %q", d, a.Type)
		}
	}
	for r, a := range c.DockerAuth {
		if r == "" || a.Registry != r {
			t.Fatalf("dockerAuth entry %q has registry %q", r, a.Registry)
		}
		if a.Credentials.User == "" || a.Credentials.Token != "" {
			t.Fatalf("dockerAuth for %q accepted with %+v", r, a.Credentials)
		}
	}
	for _, p := range []string{c.Paths.Data, c.Paths.Stage1Images} {
		if p != "" && !filepath.IsAbs(p) {
			t.Fatalf("relative path %q accepted", p)
		}
	}
	if (c.Stage1.Name == "") != (c.Stage1.Version == "") {
		t.Fatalf("stage1 name %q and version %q accepted apart", c.Stage1.Name, c.Stage1.Version)
	}
	// What Load accepts must print.
	_ = c.Entries()
}
