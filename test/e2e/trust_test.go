package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gpgHome is a GnuPG home with keys made by the real gpg.
type gpgHome struct {
	dir string
}

func newGPG(t *testing.T) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skipf("needs gpg (make test-deps installs gnupg): %v", err)
	}
	// gpg-agent's socket path must be short: a short directory of its own.
	dir, err := os.MkdirTemp("", "rkt-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{dir: dir}
	t.Cleanup(func() {
		_ = exec.CommandContext(context.Background(), "gpgconf", "--homedir", dir, "--kill", "all").Run()
		_ = os.RemoveAll(dir)
	})
	return g
}

func (g *gpgHome) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "gpg", append([]string{"--homedir", g.dir, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// key makes a signing key for email and writes its public key, armored,
// to a file whose path it returns.
func (g *gpgHome) key(t *testing.T, name, email string) string {
	t.Helper()
	g.run(t, "--quick-gen-key", name+" <"+email+">", "ed25519", "sign", "never")
	pub := filepath.Join(g.dir, email+".pub")
	g.run(t, "--armor", "--output", pub, "--export", email)
	return pub
}

// sign writes a detached signature of file by email's key to out.
func (g *gpgHome) sign(t *testing.T, email, file, out string, armored bool) {
	t.Helper()
	args := []string{"--local-user", email, "--output", out, "--detach-sign"}
	if armored {
		args = append(args, "--armor")
	}
	g.run(t, append(args, file)...)
}

// rktStdin runs rkt with stdin.
func rktStdin(t *testing.T, e *env, stdin string, args ...string) result {
	t.Helper()
	all := append(e.globalFlags(), args...)
	cmd, stdout, stderr, cancel := rktCommand(e, all...)
	defer cancel()
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	return finish(t, all, cmd, err, stdout, stderr)
}

func TestTrustACISignatures(t *testing.T) {
	e, _ := podEnv(t)
	g := newGPG(t)
	appKey := g.key(t, "App Signer", "app@example.com")
	otherKey := g.key(t, "Other Signer", "other@example.com")
	rootKey := g.key(t, "Root Signer", "root@example.com")

	app := writeACI(t, "example.com/app", "1.0", `{"exec":["/bin/echo","app runs"],"user":"0","group":"0"}`)
	application := writeACI(t, "example.com/application", "1.0", `{"exec":["/bin/echo","application runs"],"user":"0","group":"0"}`)
	g.sign(t, "app@example.com", app, app+".asc", true)
	g.sign(t, "app@example.com", application, application+".asc", false) // binary

	// No signature, then no trusted key.
	unsigned := writeACI(t, "example.com/app", "2.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`)
	r := rkt(t, e, "fetch", unsigned).exit(t, 254)
	mentions(t, "stderr", r.stderr, "error opening signature file")
	r = rkt(t, e, "fetch", app).exit(t, 254)
	mentions(t, "stderr", r.stderr, "signature verification failed", "signature made by unknown entity")

	// The fingerprint review: "no" adds nothing, "yes" adds the key.
	r = rktStdin(t, e, "no\n", "trust", "--prefix=example.com/app", appKey).exit(t, 254)
	mentions(t, "stderr", r.stderr, "GPG key fingerprint is:", "App Signer <app@example.com>", "not trusted")
	r = rktStdin(t, e, "yes\n", "trust", "--prefix=example.com/app", appKey).ok(t)
	mentions(t, "stderr", r.stderr, `Trusting "`+appKey+`" for prefix "example.com/app" after fingerprint review.`, "Added key for prefix \"example.com/app\" at \""+filepath.Join(e.localConfig, "trustedkeys", "prefix.d", "example.com", "app"))

	// Signed by the trusted key: fetched and run, the signer named.
	r = rkt(t, e, "fetch", app).ok(t)
	mentions(t, "stderr", r.stderr, "image: signature verified:", "App Signer <app@example.com>")
	if out := rkt(t, e, "run", "--net=host", app).ok(t).stdout; !strings.Contains(out, "app runs") {
		t.Errorf("run: %q", out)
	}
	// A key for example.com/app is not one for example.com/application.
	r = rkt(t, e, "fetch", application).exit(t, 254)
	mentions(t, "stderr", r.stderr, "signature made by unknown entity")
	// The signature of one image next to another (same key, same prefix).
	other := writeACI(t, "example.com/app/other", "1.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`)
	if err := os.Link(app+".asc", other+".asc"); err != nil {
		t.Fatal(err)
	}
	r = rkt(t, e, "fetch", other).exit(t, 254)
	mentions(t, "stderr", r.stderr, "signature verification failed")
	// Signed by a key trusted for nothing.
	wrong := writeACI(t, "example.com/app", "3.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`)
	g.sign(t, "other@example.com", wrong, wrong+".asc", true)
	r = rkt(t, e, "fetch", wrong).exit(t, 254)
	mentions(t, "stderr", r.stderr, "signature made by unknown entity")
	// --signature names the file.
	sig := filepath.Join(t.TempDir(), "elsewhere.sig")
	g.sign(t, "app@example.com", unsigned, sig, false)
	rkt(t, e, "fetch", "--signature="+sig, unsigned).ok(t)
	// And the per-app --signature of run, after its image.
	rkt(t, e, "run", "--net=host", unsigned, "--signature="+sig).ok(t)
	r = rkt(t, e, "run", "--net=host", unsigned).exit(t, 254)
	mentions(t, "stderr", r.stderr, "error opening signature file")
	// It is refused for images that are not signed that way.
	r = rkt(t, e, "fetch", "--signature="+sig, "oci:"+t.TempDir()+":latest").exit(t, 254)
	mentions(t, "stderr", r.stderr, "--signature is an ACI's OpenPGP signature")

	// A root key is trusted for every name; it comes from a file, named
	// here by a file:// URL.
	rkt(t, e, "trust", "--root", "--skip-fingerprint-review", "file://"+rootKey).ok(t)
	anywhere := writeACI(t, "elsewhere.org/tool", "1.0", `{"exec":["/bin/true"],"user":"0","group":"0"}`)
	g.sign(t, "root@example.com", anywhere, anywhere+".asc", true)
	rkt(t, e, "fetch", anywhere).ok(t)

	// A system key, then masked by an empty local file.
	sysDir := filepath.Join(e.systemConfig, "trustedkeys", "prefix.d", "example.com")
	if err := os.MkdirAll(sysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fp := strings.Fields(strings.Split(g.run(t, "--with-colons", "--fingerprint", "other@example.com"), "fpr:::::::::")[1])[0]
	fp = strings.ToLower(strings.TrimSuffix(fp, ":"))
	pub, err := os.ReadFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sysDir, fp), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	rkt(t, e, "fetch", wrong).ok(t)
	localDir := filepath.Join(e.localConfig, "trustedkeys", "prefix.d", "example.com")
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(localDir, fp), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = rkt(t, e, "fetch", wrong).exit(t, 254)
	mentions(t, "stderr", r.stderr, "signature made by unknown entity")

	// Bad trust invocations.
	garbage := filepath.Join(t.TempDir(), "garbage.key")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"trust", appKey}, "exactly one of --prefix and --root"},
		{[]string{"trust", "--prefix=Example.com", appKey}, "not an image name prefix"},
		{[]string{"trust", "--root", "https://example.com/key"}, "files only"},
		{[]string{"trust", "--prefix=example.com", "http://127.0.0.1:1/key"}, "--insecure-allow-http"},
		{[]string{"trust", "--prefix=example.com", "--skip-fingerprint-review", garbage}, "reading OpenPGP keys"},
		{[]string{"trust", "--prefix=example.com", "--skip-fingerprint-review", app}, "larger than 1 MiB"},
	} {
		r := rkt(t, e, c.args...).exit(t, 254)
		mentions(t, "stderr", r.stderr, c.err)
	}
	// With no key given, the keys come from discovery: asked of a local
	// server with no discovery page (no DNS, no network), it fails.
	t.Run("discovery fails", func(t *testing.T) {
		srv := newACIServer(t, e)
		name := srv.ip + "/app"
		r := rkt(t, e, "trust", "--prefix="+name).exit(t, 254)
		mentions(t, "stderr", r.stderr, "discovery of "+name+" failed")
		if srv.count("/app?ac-discovery=1") == 0 || srv.count("/?ac-discovery=1") == 0 {
			t.Errorf("discovery did not ask the server for %s and %s", name, srv.ip)
		}
	})
}
