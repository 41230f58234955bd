package e2e

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/testutil"
)

// cosignRegistry is a TLS registry (no insecure option needed to reach it)
// holding cosign-signed and unsigned busybox images.
type cosignRegistry struct {
	reg   *testutil.Registry
	key   *testutil.CosignSigner
	other *testutil.CosignSigner
	// pub and otherPub are the public key files.
	pub, otherPub string
}

// sign pushes a signature image for the manifest digest d to repo's
// signature tag.
func (c *cosignRegistry) sign(t *testing.T, repo string, d v1.Hash, sigs ...testutil.CosignLayer) {
	t.Helper()
	c.reg.Push(t, c.reg.Ref(repo, testutil.CosignTag(d)), testutil.CosignSignatureImage(t, sigs...))
}

// signed is one signature of payload by s.
func signed(t *testing.T, s *testutil.CosignSigner, payload []byte) testutil.CosignLayer {
	t.Helper()
	return testutil.CosignLayer{Payload: payload, Signature: s.Sign(t, payload)}
}

// cosignEnv is a fresh environment that trusts the registry's CA.
func (c *cosignRegistry) env(t *testing.T) *env {
	t.Helper()
	e, _ := podEnv(t)
	e.vars = append(e.vars, "SSL_CERT_FILE="+c.reg.CAFile)
	return e
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCosignSignedImages(t *testing.T) {
	requireRoot(t)
	requireStage1(t)
	t.Parallel()
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true})
	dir := t.TempDir()
	c := &cosignRegistry{reg: reg, key: testutil.NewCosignSigner(t), other: testutil.NewCosignSigner(t)}
	c.pub = writeFile(t, filepath.Join(dir, "cosign.pub"), c.key.PublicPEM(t))
	c.otherPub = writeFile(t, filepath.Join(dir, "other.pub"), c.other.PublicPEM(t))

	img := testutil.BusyboxImage(t, v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}})
	d := digestOf(t, img)
	repo := func(r string) string { return reg.Addr + "/" + r }
	push := func(r string) string {
		reg.Push(t, reg.Ref(r, "v1"), img)
		return "docker://" + reg.Ref(r, "v1")
	}
	// busybox: signed by key, as cosign signs it.
	good := push("busybox")
	c.sign(t, "busybox", d, signed(t, c.key, testutil.CosignPayload(t, repo("busybox"), d)))
	// wrongkey: signed by another key.
	wrongKey := push("wrongkey")
	c.sign(t, "wrongkey", d, signed(t, c.other, testutil.CosignPayload(t, repo("wrongkey"), d)))
	// wrongdigest: a signature of another manifest put at this one's tag.
	otherDigest := digestOf(t, tinyImage(t, "other"))
	wrongDigest := push("wrongdigest")
	c.sign(t, "wrongdigest", d, signed(t, c.key, testutil.CosignPayload(t, repo("wrongdigest"), otherDigest)))
	// wrongrepo: busybox's signature copied to another repository.
	wrongRepo := push("wrongrepo")
	c.sign(t, "wrongrepo", d, signed(t, c.key, testutil.CosignPayload(t, repo("busybox"), d)))
	// unsigned: no signature tag.
	unsigned := push("unsigned")
	// multi: a multi-platform index, signed as cosign signs a tag that
	// names one (the index digest); multiplat: only the platform manifest
	// is signed.
	idx := testutil.MultiArchIndex(t, map[string]v1.Image{platform: img})
	idxDigest := digestOf(t, idx)
	reg.PushIndex(t, reg.Ref("multi", "v1"), idx)
	c.sign(t, "multi", idxDigest, signed(t, c.key, testutil.CosignPayload(t, repo("multi"), idxDigest)))
	reg.PushIndex(t, reg.Ref("multiplat", "v1"), idx)
	c.sign(t, "multiplat", d, signed(t, c.key, testutil.CosignPayload(t, repo("multiplat"), d)))

	trustKey := func(t *testing.T, e *env, prefix, key string) result {
		t.Helper()
		return rkt(t, e, "trust", "--prefix="+prefix, "--skip-fingerprint-review", key).ok(t)
	}
	// refused asserts that fetching input fails with the given reasons and
	// leaves the store as it was.
	refused := func(t *testing.T, e *env, input string, why ...string) {
		t.Helper()
		if _, err := os.Stat(e.store()); err != nil {
			initStore(t, e)
		}
		before := storeSnapshot(t, e.dir)
		r := rkt(t, e, "fetch", input).exit(t, 254)
		mentions(t, "error", r.errorLine(t, "fetch: "), why...)
		sameStore(t, e, before)
	}

	t.Run("good", func(t *testing.T) {
		t.Parallel()
		e := c.env(t)
		// No key trusted yet: refused before anything is fetched.
		refused(t, e, good, "no key is trusted for docker://"+repo("busybox"), "rkt trust --prefix=docker://"+repo("busybox"), "--insecure-options=image")
		// The fingerprint review: "no" adds nothing, "yes" adds the key.
		r := rktStdin(t, e, "no\n", "trust", "--prefix=docker://"+repo("busybox"), c.pub).exit(t, 254)
		mentions(t, "stderr", r.stderr, "Public key (ECDSA P-256) fingerprint is: "+c.key.Fingerprint(t), "not trusted")
		r = rktStdin(t, e, "yes\n", "trust", "--prefix=docker://"+repo("busybox"), c.pub).ok(t)
		keyFile := filepath.Join(e.localConfig, "trustedkeys", "prefix.d", "docker:", reg.Addr, "busybox", "sha256-"+strings.TrimPrefix(c.key.Fingerprint(t), "sha256:"))
		mentions(t, "stderr", r.stderr, `for prefix "docker://`+repo("busybox")+`" after fingerprint review`, keyFile)
		// Signed by the trusted key: runs with no insecure option.
		r = rkt(t, e, "run", "--net=host", good, "--exec=/bin/echo", "--", "signed image runs").ok(t)
		if !strings.Contains(r.stdout, "signed image runs") {
			t.Errorf("run: %s", r)
		}
		mentions(t, "stderr", r.stderr, "image: signature verified:", "cosign key "+c.key.Fingerprint(t), "docker://"+repo("busybox")+"@"+d.String())
		// A stored image is used without verifying it again (run's
		// default --pull-policy=new), even when its key is gone; a fetch
		// (update) verifies again.
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		r = rkt(t, e, "run", "--net=host", good, "--exec=/bin/true").ok(t)
		if strings.Contains(r.stderr, "signature verified") {
			t.Errorf("a stored image was verified again: %s", r)
		}
		r = rkt(t, e, "fetch", good).exit(t, 254)
		mentions(t, "error", r.errorLine(t, "fetch: "), "no key is trusted")
	})

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		e := c.env(t)
		trustKey(t, e, "docker://"+reg.Addr, c.pub) // the whole registry
		for _, tc := range []struct{ name, input, why string }{
			{"wrong key", wrongKey, "made by none of the 1 trusted keys"},
			{"wrong digest", wrongDigest, `payload signs manifest digest "` + otherDigest.String() + `", not the image's ` + d.String()},
			{"wrong repository", wrongRepo, `payload signs repository "` + repo("busybox") + `", not the image's ` + repo("wrongrepo")},
			{"missing signature", unsigned, "no cosign signature: " + repo("unsigned") + ":" + testutil.CosignTag(d) + " not found"},
			{"platform manifest signed, not the index", "docker://" + reg.Ref("multiplat", "v1"), "no cosign signature: " + repo("multiplat") + ":" + testutil.CosignTag(idxDigest)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				refused(t, e, tc.input, "signature verification failed", tc.why)
			})
		}
		// The index's own signature covers the image picked from it, by
		// tag or by the index digest.
		r := rkt(t, e, "fetch", "docker://"+reg.Ref("multi", "v1")).ok(t)
		mentions(t, "stderr", r.stderr, "image: signature verified:", "@"+idxDigest.String())
		rkt(t, e, "fetch", "docker://"+reg.Ref("multi", idxDigest.String())).ok(t)
		// By digest, as by tag.
		rkt(t, e, "fetch", "docker://"+reg.Ref("busybox", d.String())).ok(t)
		// --insecure-options=image still fetches what is not verified,
		// without a verification note.
		r = rkt(t, e, insecureImage, "fetch", unsigned).ok(t)
		if strings.Contains(r.stderr, "signature verified") {
			t.Errorf("--insecure-options=image verified: %s", r)
		}
	})

	t.Run("prefix by whole components", func(t *testing.T) {
		t.Parallel()
		e := c.env(t)
		// A key for REG/busy is not one for REG/busybox.
		trustKey(t, e, "docker://"+repo("busy"), c.pub)
		refused(t, e, good, "no key is trusted for docker://"+repo("busybox"))
		// A key for the repository covers what is under it.
		trustKey(t, e, "docker://"+repo("busybox"), c.otherPub)
		refused(t, e, good, "made by none of the 1 trusted keys")
		// A root key covers every registry image; a masked one nothing.
		r := rkt(t, e, "trust", "--root", "--skip-fingerprint-review", c.pub).ok(t)
		mentions(t, "stderr", r.stderr, "Added root key at")
		rkt(t, e, "fetch", good).ok(t)
	})

	t.Run("system key masked", func(t *testing.T) {
		t.Parallel()
		e := c.env(t)
		sysDir := filepath.Join(e.systemConfig, "trustedkeys", "prefix.d", "docker:", reg.Addr, "busybox")
		name := "sha256-" + strings.TrimPrefix(c.key.Fingerprint(t), "sha256:")
		if err := os.MkdirAll(sysDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(sysDir, name), c.key.PublicPEM(t))
		initStore(t, e)
		rkt(t, e, "fetch", good).ok(t)
		localDir := filepath.Join(e.localConfig, "trustedkeys", "prefix.d", "docker:", reg.Addr, "busybox")
		if err := os.MkdirAll(localDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(localDir, name), nil)
		r := rkt(t, e, "fetch", good).exit(t, 254)
		mentions(t, "error", r.errorLine(t, "fetch: "), "no key is trusted")
	})

	t.Run("trust errors", func(t *testing.T) {
		t.Parallel()
		e := c.env(t)
		pgp := writeFile(t, filepath.Join(t.TempDir(), "key.asc"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n"))
		priv := writeFile(t, filepath.Join(t.TempDir(), "cosign.key"), []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"))
		for _, tc := range []struct {
			args []string
			err  string
		}{
			{[]string{"--prefix=docker://" + repo("busybox"), pgp}, "give a PEM public key (cosign.pub), not an OpenPGP key"},
			{[]string{"--prefix=example.com/app", c.pub}, "a PEM public key (cosign) is trusted for registry images only"},
			{[]string{"--prefix=docker://" + repo("busybox")}, "registry images have no key discovery"},
			{[]string{"--prefix=docker://" + reg.Ref("busybox", "v1"), c.pub}, "not a registry or repository prefix"},
			{[]string{"--prefix=docker://" + repo("busybox"), priv}, "a private key was given"},
		} {
			r := rkt(t, e, append([]string{"trust", "--skip-fingerprint-review"}, tc.args...)...).exit(t, 254)
			mentions(t, "stderr", r.stderr, tc.err)
		}
		if _, err := os.Stat(filepath.Join(e.localConfig, "trustedkeys")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused key left the keystore: %v", err)
		}
	})

	t.Run("real cosign", func(t *testing.T) {
		t.Parallel()
		cosign, err := exec.LookPath("cosign")
		if err != nil {
			t.Skip("needs a cosign 2.x binary on PATH (not pinned here: building it takes longer than the suite should)")
		}
		e := c.env(t)
		home := t.TempDir()
		run := func(args ...string) string {
			t.Helper()
			cmd := exec.CommandContext(context.Background(), cosign, args...)
			cmd.Dir = home
			cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "COSIGN_PASSWORD=", "SSL_CERT_FILE=" + reg.CAFile, "TUF_ROOT=" + filepath.Join(home, "tuf"), "DOCKER_CONFIG=" + filepath.Join(home, "docker")}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		run("generate-key-pair")
		// By digest, as cosign wants it; and a multi-platform index by
		// tag: cosign signs the digest the tag names, the index's.
		signedByCosign := push("cosigned")
		run("sign", "--key=cosign.key", "--tlog-upload=false", "--yes", reg.Ref("cosigned", d.String()))
		reg.PushIndex(t, reg.Ref("cosignmulti", "v1"), idx)
		run("sign", "--key=cosign.key", "--tlog-upload=false", "--yes", reg.Ref("cosignmulti", "v1"))
		// Signed but not trusted; then trusted.
		refused(t, e, signedByCosign, "no key is trusted")
		trustKey(t, e, "docker://"+repo("cosigned"), filepath.Join(home, "cosign.pub"))
		trustKey(t, e, "docker://"+repo("cosignmulti"), filepath.Join(home, "cosign.pub"))
		r := rkt(t, e, "run", "--net=host", signedByCosign, "--exec=/bin/echo", "--", "cosign signed").ok(t)
		mentions(t, "stdout", r.stdout, "cosign signed")
		mentions(t, "stderr", r.stderr, "image: signature verified:")
		rkt(t, e, "fetch", "docker://"+reg.Ref("cosignmulti", "v1")).ok(t)
		// The key of one repository does not verify another's signature.
		refused(t, e, wrongKey, "no key is trusted")
	})
}
