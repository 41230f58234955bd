//go:build !rktfront

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/testutil"
	"github.com/rkt/rkt/internal/trust"
)

// trustKeyFiles writes an OpenPGP public key and a cosign PEM public key,
// and returns their paths and fingerprints as the keystore names them.
func trustKeyFiles(t *testing.T) (pgpFile, pgpFP, pemFile, pemFP string) {
	t.Helper()
	dir := t.TempDir()
	e, err := openpgp.NewEntity("Test Signer", "", "signer@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	armored, err := trust.ArmorPublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	pgpFile = filepath.Join(dir, "key.asc")
	if err := os.WriteFile(pgpFile, armored, 0o644); err != nil {
		t.Fatal(err)
	}
	cosign := testutil.NewCosignSigner(t)
	pemFile = filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pemFile, cosign.PublicPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return pgpFile, trust.Fingerprint(e), pemFile, cosign.Fingerprint(t)
}

// TestTrustAddsKeys runs rkt trust for both kinds of key, as prefix and
// root keys: what is shown, asked, and where the key is stored.
func TestTrustAddsKeys(t *testing.T) {
	pgpFile, pgpFP, pemFile, pemFP := trustKeyFiles(t)
	pemName := "sha256-" + strings.TrimPrefix(pemFP, "sha256:")
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		// stored is the key file, relative to the local trustedkeys
		// directory; "" when nothing may be stored.
		stored string
		want   []string
		err    string
	}{
		{
			name:   "openpgp prefix",
			args:   []string{"--prefix=example.com/app", pgpFile},
			stdin:  "yes\n",
			stored: filepath.Join("prefix.d", "example.com", "app", pgpFP),
			want: []string{
				"Prefix: \"example.com/app\"\nKey: \"" + pgpFile + "\"\nGPG key fingerprint is: ",
				"\tTest Signer <signer@example.com>\nAre you sure you want to trust this key (yes/no)?\n",
				"Trusting \"" + pgpFile + "\" for prefix \"example.com/app\" after fingerprint review.",
				"Added key for prefix \"example.com/app\" at ",
			},
		},
		{
			name:   "openpgp root",
			args:   []string{"--root", "--skip-fingerprint-review", pgpFile},
			stored: filepath.Join("root.d", pgpFP),
			want:   []string{"Root key\nKey: ", "Trusting \"" + pgpFile + "\" as a root key without fingerprint review.", "Added root key at "},
		},
		{
			name:   "root key from a file:// URL",
			args:   []string{"--root", "--skip-fingerprint-review", "file://" + pgpFile},
			stored: filepath.Join("root.d", pgpFP),
			want:   []string{"Trusting \"file://" + pgpFile + "\" as a root key without fingerprint review."},
		},
		{
			name: "root key from https",
			args: []string{"--root", "--skip-fingerprint-review", "https://127.0.0.1:1/key.asc"},
			err:  "--root keys come from files only (a path or a file:// URL)",
		},
		{
			name: "root key from http",
			args: []string{"--root", "--skip-fingerprint-review", "--insecure-allow-http", "http://127.0.0.1:1/key.asc"},
			err:  "--root keys come from files only",
		},
		{
			name:   "cosign prefix",
			args:   []string{"--prefix=docker://busybox", "--skip-fingerprint-review", pemFile},
			stored: filepath.Join("prefix.d", "docker:", "index.docker.io", "library", "busybox", pemName),
			want: []string{
				"Prefix: \"docker://index.docker.io/library/busybox\"\nKey: \"" + pemFile + "\"\nPublic key (ECDSA P-256) fingerprint is: " + pemFP + "\n",
				"Added key for prefix \"docker://index.docker.io/library/busybox\" at ",
			},
		},
		{
			name:   "cosign root",
			args:   []string{"--root", "--skip-fingerprint-review", pemFile},
			stored: filepath.Join("root.d", pemName),
			want:   []string{"Root key (registry images)\nKey: ", "Added root key at "},
		},
		{
			name:  "openpgp refused",
			args:  []string{"--prefix=example.com/app", pgpFile},
			stdin: "no\n",
			want:  []string{"GPG key fingerprint is: "},
			err:   "key " + pgpFP + " not trusted",
		},
		{
			name: "cosign key for an appc prefix",
			args: []string{"--prefix=example.com/app", "--skip-fingerprint-review", pemFile},
			err:  "a PEM public key (cosign) is trusted for registry images only",
		},
		{
			name:  "cosign refused",
			args:  []string{"--prefix=docker://busybox", pemFile},
			stdin: "no\n",
			want:  []string{"Are you sure you want to trust this key (yes/no)?\n"},
			err:   "key " + pemFP + " not trusted",
		},
		{
			name: "openpgp key for a docker prefix",
			args: []string{"--prefix=docker://busybox", "--skip-fingerprint-review", pgpFile},
			err:  "give a PEM public key (cosign.pub), not an OpenPGP key",
		},
		{
			name: "docker prefix with a tag",
			args: []string{"--prefix=docker://busybox:1", "--skip-fingerprint-review", pemFile},
			err:  "not a registry or repository prefix",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			local := filepath.Join(dir, "l", trust.Dir)
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(tc.stdin), start: time.Now()}
			code := a.run(append([]string{"--dir=" + dir, "--system-config=" + dir + "/s", "--local-config=" + dir + "/l", "trust"}, tc.args...))
			out := stderr.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr %q does not contain %q", out, w)
				}
			}
			if tc.err != "" {
				if code != errdefs.ExitFailure || !strings.Contains(out, tc.err) {
					t.Errorf("exit %d, stderr %q; want an error with %q", code, out, tc.err)
				}
				if _, err := os.Stat(local); err == nil {
					t.Errorf("a refused key created %s", local)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, out)
			}
			want := filepath.Join(local, tc.stored)
			if !strings.Contains(out, " at \""+want+"\"\n") {
				t.Errorf("stderr %q does not name %s", out, want)
			}
			if _, err := os.Stat(want); err != nil {
				t.Errorf("key not stored: %v", err)
			}
		})
	}
}
