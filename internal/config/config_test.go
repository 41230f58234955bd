package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// layer is the files of one configuration directory, by path relative to
// it ("auth.d/a.json").
type layer map[string]string

// writeLayer creates dir with the given files and returns dir.
func writeLayer(t testing.TB, dir string, files layer) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func basicAuth(user, pass string, domains ...string) string {
	b, _ := json.Marshal(map[string]any{
		"rktKind": "auth", "rktVersion": "v1", "domains": domains, "type": "basic",
		"credentials": map[string]string{"user": user, "password": pass},
	})
	return string(b)
}

func oauth(token string, domains ...string) string {
	b, _ := json.Marshal(map[string]any{
		"rktKind": "auth", "rktVersion": "v1", "domains": domains, "type": "oauth",
		"credentials": map[string]string{"token": token},
	})
	return string(b)
}

func dockerAuth(user, pass string, registries ...string) string {
	b, _ := json.Marshal(map[string]any{
		"rktKind": "dockerAuth", "rktVersion": "v1", "registries": registries,
		"credentials": map[string]string{"user": user, "password": pass},
	})
	return string(b)
}

func TestLoadEmpty(t *testing.T) {
	dir := t.TempDir()
	for name, dirs := range map[string]Dirs{
		"no dirs":      {},
		"missing dirs": {System: filepath.Join(dir, "nope1"), Local: filepath.Join(dir, "nope2"), User: filepath.Join(dir, "nope3")},
		"empty dirs":   {System: writeLayer(t, filepath.Join(dir, "s"), nil), Local: writeLayer(t, filepath.Join(dir, "l"), layer{"auth.d/README": "x"})},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(dirs)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(c.Auth) != 0 || len(c.DockerAuth) != 0 || c.Paths != (Paths{}) || c.Stage1 != (Stage1{}) {
				t.Errorf("Load = %+v, want an empty config", c)
			}
			if c.Auth == nil || c.DockerAuth == nil {
				t.Errorf("maps must be non-nil so callers can index them")
			}
		})
	}
}

func TestLoadLayers(t *testing.T) {
	root := t.TempDir()
	system := writeLayer(t, filepath.Join(root, "system"), layer{
		"auth.d/a.json":        basicAuth("sysuser", "syspass", "a.example.com", "b.example.com"),
		"auth.d/docker.json":   dockerAuth("sysd", "sysdpass", "quay.io", "registry.example.com:5000"),
		"paths.d/paths.json":   `{"rktKind":"paths","rktVersion":"v1","data":"/var/lib/rkt-sys","stage1-images":"/usr/lib/rkt/stage1-images"}`,
		"stage1.d/s1.json":     `{"rktKind":"stage1","rktVersion":"v1","name":"coreos.com/rkt/stage1-coreos","version":"1.30.0","location":"/usr/lib/rkt/stage1-coreos.aci"}`,
		"auth.d/ignored.txt":   "this is not json at all",
		"auth.d/sub.json/x":    "a directory named like a config file is skipped",
		"auth.d/nested/n.json": basicAuth("nested", "nested", "nested.example.com"),
		"paths.d/notes":        "{",
	})
	local := writeLayer(t, filepath.Join(root, "local"), layer{
		// Overrides a.example.com only; b.example.com stays from system.
		"auth.d/a.json":      oauth("localtoken", "a.example.com"),
		"auth.d/docker.json": dockerAuth("locald", "localdpass", "quay.io"),
		// Only data is overridden; stage1-images stays.
		"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"/var/lib/rkt-local"}`,
		// Only the location is overridden; name and version stay.
		"stage1.d/s1.json": `{"rktKind":"stage1","rktVersion":"v1","location":"/opt/stage1.aci"}`,
	})
	user := writeLayer(t, filepath.Join(root, "user"), layer{
		"auth.d/c.json": basicAuth("u", "p", "c.example.com"),
		// Name and version are overridden together; location stays.
		"stage1.d/s1.json": `{"rktKind":"stage1","rktVersion":"v1","name":"example.com/stage1","version":"2.0"}`,
	})

	c, err := Load(Dirs{System: system, Local: local, User: user})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	wantAuth := map[string]Auth{
		"a.example.com": {Domain: "a.example.com", Type: "oauth", Credentials: Credentials{Token: "localtoken"}},
		"b.example.com": {Domain: "b.example.com", Type: "basic", Credentials: Credentials{User: "sysuser", Password: "syspass"}},
		"c.example.com": {Domain: "c.example.com", Type: "basic", Credentials: Credentials{User: "u", Password: "p"}},
	}
	if !reflect.DeepEqual(c.Auth, wantAuth) {
		t.Errorf("Auth =\n%+v\nwant\n%+v", c.Auth, wantAuth)
	}
	wantDocker := map[string]DockerAuth{
		"quay.io":                   {Registry: "quay.io", Credentials: Credentials{User: "locald", Password: "localdpass"}},
		"registry.example.com:5000": {Registry: "registry.example.com:5000", Credentials: Credentials{User: "sysd", Password: "sysdpass"}},
	}
	if !reflect.DeepEqual(c.DockerAuth, wantDocker) {
		t.Errorf("DockerAuth =\n%+v\nwant\n%+v", c.DockerAuth, wantDocker)
	}
	if want := (Paths{Data: "/var/lib/rkt-local", Stage1Images: "/usr/lib/rkt/stage1-images"}); c.Paths != want {
		t.Errorf("Paths = %+v, want %+v", c.Paths, want)
	}
	if want := (Stage1{Name: "example.com/stage1", Version: "2.0", Location: "/opt/stage1.aci"}); c.Stage1 != want {
		t.Errorf("Stage1 = %+v, want %+v", c.Stage1, want)
	}
	if _, ok := c.Auth["nested.example.com"]; ok {
		t.Errorf("a file in a subdirectory of auth.d was read")
	}
}

// TestLoadFilesInNameOrder checks that, within one dir, later files (by name)
// win for paths, and that files of the same dir are all read.
func TestLoadFilesInNameOrder(t *testing.T) {
	dir := writeLayer(t, t.TempDir(), layer{
		"paths.d/20.json": `{"rktKind":"paths","rktVersion":"v1","data":"/second"}`,
		"paths.d/10.json": `{"rktKind":"paths","rktVersion":"v1","data":"/first","stage1-images":"/imgs"}`,
	})
	c, err := Load(Dirs{User: dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Paths{Data: "/second", Stage1Images: "/imgs"}); c.Paths != want {
		t.Errorf("Paths = %+v, want %+v", c.Paths, want)
	}
}

func TestLoadSymlinkedFile(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "real.conf")
	if err := os.WriteFile(target, []byte(basicAuth("u", "p", "link.example.com")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeLayer(t, filepath.Join(root, "cfg"), layer{"auth.d/.keep": ""})
	if err := os.Symlink(target, filepath.Join(dir, "auth.d", "link.json")); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Dirs{System: dir})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, ok := c.Auth["link.example.com"]; !ok {
		t.Errorf("symlinked config file was not read: %+v", c.Auth)
	}
	// A symlink to a directory is skipped like a directory.
	if err := os.Symlink(root, filepath.Join(dir, "auth.d", "dir.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Dirs{System: dir}); err != nil {
		t.Errorf("Load with a symlink to a directory: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   layer
		wantErr []string // substrings of the error
	}{
		{
			name:    "same domain twice in two files of one dir",
			files:   layer{"auth.d/a.json": basicAuth("u", "p", "dup.example.com"), "auth.d/b.json": oauth("t", "dup.example.com")},
			wantErr: []string{`domain "dup.example.com" is given twice`, "b.json"},
		},
		{
			name:    "same domain twice in one file",
			files:   layer{"auth.d/a.json": basicAuth("u", "p", "x.example.com", "x.example.com")},
			wantErr: []string{`domain "x.example.com" is given twice`},
		},
		{
			name:    "same registry twice in one dir",
			files:   layer{"auth.d/a.json": dockerAuth("u", "p", "quay.io"), "auth.d/b.json": dockerAuth("v", "q", "quay.io")},
			wantErr: []string{`registry "quay.io" is given twice`},
		},
		{
			name:    "unknown rktKind in auth.d",
			files:   layer{"auth.d/a.json": `{"rktKind":"paths","rktVersion":"v1","data":"/x"}`},
			wantErr: []string{`unknown rktKind "paths" in auth.d`, "a.json"},
		},
		{
			name:    "unknown rktKind in paths.d",
			files:   layer{"paths.d/a.json": `{"rktKind":"auth","rktVersion":"v1"}`},
			wantErr: []string{`unknown rktKind "auth" in paths.d`},
		},
		{
			name:    "unknown rktKind in stage1.d",
			files:   layer{"stage1.d/a.json": `{"rktKind":"stage2","rktVersion":"v1"}`},
			wantErr: []string{`unknown rktKind "stage2" in stage1.d`},
		},
		{
			name:    "missing rktKind",
			files:   layer{"auth.d/a.json": `{"rktVersion":"v1"}`},
			wantErr: []string{`unknown rktKind ""`},
		},
		{
			name:    "unknown rktVersion",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v2","domains":["a"],"type":"basic","credentials":{"user":"u","password":"p"}}`},
			wantErr: []string{`unsupported rktVersion "v2"`},
		},
		{
			name:    "missing rktVersion",
			files:   layer{"stage1.d/a.json": `{"rktKind":"stage1","name":"n","version":"v"}`},
			wantErr: []string{`unsupported rktVersion ""`},
		},
		{
			name:    "not json",
			files:   layer{"auth.d/a.json": `{"rktKind":`},
			wantErr: []string{"parse", "a.json"},
		},
		{
			name:    "json array",
			files:   layer{"auth.d/a.json": `[]`},
			wantErr: []string{"parse"},
		},
		{
			name:    "unknown field",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":{"user":"u","password":"p"},"extra":1}`},
			wantErr: []string{`unknown field "extra"`},
		},
		{
			name:    "unknown credentials field",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":{"user":"u","password":"p","pin":"1"}}`},
			wantErr: []string{"parse credentials", `unknown field "pin"`},
		},
		{
			name:    "missing credentials",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic"}`},
			wantErr: []string{"parse credentials"},
		},
		{
			name:    "no domains",
			files:   layer{"auth.d/a.json": basicAuth("u", "p")},
			wantErr: []string{"no domains given"},
		},
		{
			name:    "empty domain",
			files:   layer{"auth.d/a.json": basicAuth("u", "p", "")},
			wantErr: []string{"empty domain"},
		},
		{
			name:    "basic without user",
			files:   layer{"auth.d/a.json": basicAuth("", "p", "a.example.com")},
			wantErr: []string{"basic auth needs credentials user and password"},
		},
		{
			name:    "basic with a token",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":{"user":"u","password":"p","token":"t"}}`},
			wantErr: []string{"basic auth needs credentials user and password"},
		},
		{
			name:    "oauth without token",
			files:   layer{"auth.d/a.json": oauth("", "a.example.com")},
			wantErr: []string{"oauth auth needs credentials token"},
		},
		{
			name:    "oauth with a user",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"oauth","credentials":{"user":"u","token":"t"}}`},
			wantErr: []string{"oauth auth needs credentials token"},
		},
		{
			name:    "oauth with a password",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"oauth","credentials":{"password":"p","token":"t"}}`},
			wantErr: []string{"oauth auth needs credentials token"},
		},
		{
			name:    "aws",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"aws","credentials":{}}`},
			wantErr: []string{`"aws" is not supported`},
		},
		{
			name:    "unknown auth type",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"digest","credentials":{"user":"u","password":"p"}}`},
			wantErr: []string{`unknown auth type "digest"`},
		},
		{
			name:    "missing auth type",
			files:   layer{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"credentials":{"user":"u","password":"p"}}`},
			wantErr: []string{`unknown auth type ""`},
		},
		{
			name:    "dockerAuth without registries",
			files:   layer{"auth.d/a.json": dockerAuth("u", "p")},
			wantErr: []string{"no registries given"},
		},
		{
			name:    "dockerAuth empty registry",
			files:   layer{"auth.d/a.json": dockerAuth("u", "p", "")},
			wantErr: []string{"empty registry"},
		},
		{
			name:    "dockerAuth without user",
			files:   layer{"auth.d/a.json": dockerAuth("", "p", "quay.io")},
			wantErr: []string{"dockerAuth needs credentials user and password"},
		},
		{
			name:    "dockerAuth with token",
			files:   layer{"auth.d/a.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["quay.io"],"credentials":{"user":"u","password":"p","token":"t"}}`},
			wantErr: []string{"dockerAuth needs credentials user and password"},
		},
		{
			name:    "relative data path",
			files:   layer{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"var/lib/rkt"}`},
			wantErr: []string{`path "var/lib/rkt" is not absolute`},
		},
		{
			name:    "relative stage1-images path",
			files:   layer{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"/ok","stage1-images":"./imgs"}`},
			wantErr: []string{`path "./imgs" is not absolute`},
		},
		{
			name:    "unknown paths field",
			files:   layer{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","datadir":"/x"}`},
			wantErr: []string{`unknown field "datadir"`},
		},
		{
			name:    "stage1 name without version",
			files:   layer{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","name":"coreos.com/rkt/stage1-coreos"}`},
			wantErr: []string{"stage1 name and version must be given together"},
		},
		{
			name:    "stage1 version without name",
			files:   layer{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","version":"1.30.0","location":"/x"}`},
			wantErr: []string{"stage1 name and version must be given together"},
		},
		{
			name:    "too large",
			files:   layer{"auth.d/big.json": `{"rktKind":"auth","rktVersion":"v1","pad":"` + strings.Repeat("x", maxConfigFile) + `"}`},
			wantErr: []string{"larger than"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayer(t, t.TempDir(), tc.files)
			c, err := Load(Dirs{Local: dir})
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want an error containing %q", c, tc.wantErr)
			}
			if c != nil {
				t.Errorf("Load returned a config with its error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadErrorInAnyLayer checks that a bad file in a lower layer is an
// error even when a higher layer would override it.
func TestLoadErrorInAnyLayer(t *testing.T) {
	root := t.TempDir()
	bad := writeLayer(t, filepath.Join(root, "bad"), layer{"auth.d/a.json": basicAuth("", "p", "a.example.com")})
	good := writeLayer(t, filepath.Join(root, "good"), layer{"auth.d/a.json": basicAuth("u", "p", "a.example.com")})
	for name, dirs := range map[string]Dirs{
		"system": {System: bad, Local: good, User: good},
		"local":  {System: good, Local: bad, User: good},
		"user":   {System: good, Local: good, User: bad},
	} {
		if _, err := Load(dirs); err == nil {
			t.Errorf("bad %s layer: Load succeeded", name)
		}
	}
}

// TestLoadSameDomainAcrossLayers checks that the same domain in two layers is
// an override, not the "given twice" error.
func TestLoadSameDomainAcrossLayers(t *testing.T) {
	root := t.TempDir()
	a := writeLayer(t, filepath.Join(root, "a"), layer{"auth.d/a.json": basicAuth("first", "p", "x.example.com")})
	b := writeLayer(t, filepath.Join(root, "b"), layer{"auth.d/b.json": basicAuth("second", "p", "x.example.com")})
	c, err := Load(Dirs{System: a, User: b})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth["x.example.com"].Credentials.User; got != "second" {
		t.Errorf("user layer did not override system: user = %q", got)
	}
	c, err = Load(Dirs{System: b, User: a})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth["x.example.com"].Credentials.User; got != "first" {
		t.Errorf("user layer did not override system: user = %q", got)
	}
}

func TestLoadUnreadableDir(t *testing.T) {
	root := t.TempDir()
	// auth.d is a file, not a directory.
	dir := writeLayer(t, root, layer{"auth.d": "not a dir"})
	if _, err := Load(Dirs{System: dir}); err == nil || !strings.Contains(err.Error(), "read config dir") {
		t.Errorf("Load with auth.d a file: err = %v, want a read config dir error", err)
	}
}

func TestEntries(t *testing.T) {
	c := &Config{
		Auth: map[string]Auth{
			"b.example.com": {Domain: "b.example.com", Type: "oauth", Credentials: Credentials{Token: "tok"}},
			"a.example.com": {Domain: "a.example.com", Type: "basic", Credentials: Credentials{User: "u", Password: "p"}},
		},
		DockerAuth: map[string]DockerAuth{
			"z.io":    {Registry: "z.io", Credentials: Credentials{User: "zu", Password: "zp"}},
			"quay.io": {Registry: "quay.io", Credentials: Credentials{User: "qu", Password: "qp"}},
		},
		Paths:  Paths{Data: "/var/lib/rkt"},
		Stage1: Stage1{Location: "/s1.aci"},
	}
	b, err := json.Marshal(c.Entries())
	if err != nil {
		t.Fatal(err)
	}
	want := `[` +
		`{"credentials":{"user":"u","password":"p"},"domains":["a.example.com"],"rktKind":"auth","rktVersion":"v1","type":"basic"},` +
		`{"credentials":{"token":"tok"},"domains":["b.example.com"],"rktKind":"auth","rktVersion":"v1","type":"oauth"},` +
		`{"credentials":{"user":"qu","password":"qp"},"registries":["quay.io"],"rktKind":"dockerAuth","rktVersion":"v1"},` +
		`{"credentials":{"user":"zu","password":"zp"},"registries":["z.io"],"rktKind":"dockerAuth","rktVersion":"v1"},` +
		`{"data":"/var/lib/rkt","rktKind":"paths","rktVersion":"v1","stage1-images":""},` +
		`{"location":"/s1.aci","name":"","rktKind":"stage1","rktVersion":"v1","version":""}` +
		`]`
	if string(b) != want {
		t.Errorf("Entries =\n%s\nwant\n%s", b, want)
	}

	// An empty config still prints the paths entry, and no stage1 entry.
	empty := &Config{}
	e := empty.Entries()
	if len(e) != 1 || e[0]["rktKind"] != "paths" {
		t.Errorf("empty Entries = %v, want only a paths entry", e)
	}
}

// TestEntriesRoundTrip checks that what Entries prints loads back as the
// same configuration.
func TestEntriesRoundTrip(t *testing.T) {
	root := t.TempDir()
	src := writeLayer(t, filepath.Join(root, "src"), layer{
		"auth.d/a.json":    basicAuth("u", "p", "a.example.com", "b.example.com"),
		"auth.d/o.json":    oauth("tok", "o.example.com"),
		"auth.d/d.json":    dockerAuth("du", "dp", "quay.io"),
		"paths.d/p.json":   `{"rktKind":"paths","rktVersion":"v1","data":"/d","stage1-images":"/s"}`,
		"stage1.d/s1.json": `{"rktKind":"stage1","rktVersion":"v1","name":"n","version":"1","location":"/l"}`,
	})
	c, err := Load(Dirs{System: src})
	if err != nil {
		t.Fatal(err)
	}
	files := layer{}
	for i, e := range c.Entries() {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		kind := e["rktKind"].(string)
		sub := map[string]string{"auth": "auth.d", "dockerAuth": "auth.d", "paths": "paths.d", "stage1": "stage1.d"}[kind]
		files[filepath.Join(sub, string(rune('a'+i))+".json")] = string(b)
	}
	out := writeLayer(t, filepath.Join(root, "out"), files)
	c2, err := Load(Dirs{System: out})
	if err != nil {
		t.Fatalf("Load of Entries output: %v", err)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", c2, c)
	}
}
