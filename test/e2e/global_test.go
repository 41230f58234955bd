package e2e

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestNoArgumentsExits2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Literally no arguments, as a user types it.
	r := rawRkt(t, e).exit(t, 2)
	mentions(t, "usage", r.stderr, "Usage:")
	if r.stdout != "" {
		t.Errorf("want the usage on stderr only:\n%s", r)
	}
	// The same with only global flags.
	rkt(t, e).exit(t, 2)
}

func TestUnknownSubcommandAndFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := rkt(t, e, "frobnicate")
	mentions(t, "error", r.errorLine(t, "rkt: "), "frobnicate")

	r = rkt(t, e, "image", "list", "--no-such-flag")
	mentions(t, "error", r.errorLine(t, "image list: "), "--no-such-flag")

	r = rkt(t, e, "--no-such-global-flag", "version")
	mentions(t, "error", r.errorLine(t, "rkt"), "--no-such-global-flag")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := rkt(t, e, "version").ok(t)
	l := lines(r.stdout)
	if len(l) < 2 || !strings.HasPrefix(l[0], "rkt Version: ") {
		t.Fatalf("want rkt Version: first:\n%s", r)
	}
	var osArch string
	for _, x := range l {
		if v, ok := strings.CutPrefix(x, "Go OS/Arch: "); ok {
			osArch = v
		}
	}
	if want := runtime.GOOS + "/" + runtime.GOARCH; osArch != want {
		t.Errorf("Go OS/Arch %q, want %q:\n%s", osArch, want, r)
	}
}

func TestAbbreviatedSubcommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// cobra prefix matching, as in rkt 1.x.
	r := rkt(t, e, "vers").ok(t)
	mentions(t, "version", r.stdout, "rkt Version:")
	rkt(t, e, "im", "li", "--no-legend").ok(t)
}

func TestInsecureOptionsBogus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := rkt(t, e, "--insecure-options=bogus", "image", "list")
	mentions(t, "error", r.errorLine(t, "image list: "), "bogus")
	r = rkt(t, e, "--insecure-options=image,bogus", "fetch", "docker://127.0.0.1:1/x:y")
	mentions(t, "error", r.errorLine(t, "fetch: "), "bogus")
	if fileExists(e.store()) {
		t.Errorf("a command with a bad flag created the store %s", e.store())
	}
}

func TestConfigMergesAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The system layer has two domains; the local layer overrides one of
	// them and adds a third.
	writeDockerAuth(t, e.systemConfig, "10-system.json", "shared.example:5000", "system-user", "system-pass")
	writeDockerAuth(t, e.systemConfig, "20-system.json", "system-only.example", "sys2", "sys2-pass")
	writeDockerAuth(t, e.localConfig, "10-local.json", "shared.example:5000", "local-user", "local-pass")
	writeDockerAuth(t, e.localConfig, "20-local.json", "local-only.example", "loc2", "loc2-pass")
	writeJSON(t, e.localConfig+"/auth.d/30-basic.json", map[string]any{
		"rktKind": "auth", "rktVersion": "v1", "domains": []string{"basic.example"}, "type": "basic",
		"credentials": map[string]string{"user": "b", "password": "bp"},
	})

	r := rkt(t, e, "config").ok(t)
	var cfg struct {
		Stage0 []map[string]any `json:"stage0"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cfg); err != nil {
		t.Fatalf("rkt config is not JSON: %v\n%s", err, r)
	}
	perDomain := map[string][]map[string]any{}
	for _, entry := range cfg.Stage0 {
		var keys []any
		switch entry["rktKind"] {
		case "dockerAuth":
			keys, _ = entry["registries"].([]any)
		case "auth":
			keys, _ = entry["domains"].([]any)
		default:
			continue
		}
		if len(keys) != 1 {
			t.Errorf("entry %v: want exactly one domain per entry", entry)
		}
		for _, k := range keys {
			perDomain[k.(string)] = append(perDomain[k.(string)], entry)
		}
	}
	want := map[string]string{
		"shared.example:5000": "local-user",
		"system-only.example": "sys2",
		"local-only.example":  "loc2",
		"basic.example":       "b",
	}
	if len(perDomain) != len(want) {
		t.Errorf("domains %v, want %v:\n%s", perDomain, want, r)
	}
	for d, user := range want {
		entries := perDomain[d]
		if len(entries) != 1 {
			t.Errorf("domain %s: %d entries, want 1:\n%s", d, len(entries), r)
			continue
		}
		creds, _ := entries[0]["credentials"].(map[string]any)
		if creds["user"] != user {
			t.Errorf("domain %s: user %v, want %s (local overrides system)", d, creds["user"], user)
		}
	}
}
