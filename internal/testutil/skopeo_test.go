package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistryWithSkopeo checks the registries with an independent client
// (containers/image), which, unlike go-containerregistry, accepts a token
// realm on another loopback port.
func TestRegistryWithSkopeo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("needs skopeo")
	}
	users := map[string]string{"erin": "pw"}
	for _, tc := range []struct {
		name string
		opts RegistryOptions
	}{
		{"basic-tls", RegistryOptions{TLS: true, Basic: users}},
		{"token", RegistryOptions{Token: true, TokenUsers: users}},
		{"token-tls-realm-other-host", RegistryOptions{Token: true, TLS: true, TokenRealmOtherHost: true, TokenUsers: users}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := StartRegistry(t, tc.opts)
			img := smallImage(t)
			ref := r.Ref("erin/app", "v1")

			var certDir string
			if r.CA != nil {
				// containers/image wants CA files named *.crt.
				certDir = t.TempDir()
				if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), r.CA.CertPEM, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			skopeo := func(args ...string) (string, error) {
				t.Helper()
				cmd := exec.CommandContext(t.Context(), "skopeo", args...)
				// Keep skopeo away from any stored login.
				cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			tlsArgs := func(prefix string) []string {
				if certDir != "" {
					return []string{"--" + prefix + "cert-dir", certDir}
				}
				return []string{"--" + prefix + "tls-verify=false"}
			}

			if tc.opts.TokenRealmOtherHost {
				// go-containerregistry refuses this realm: push with skopeo.
				dir := filepath.Join(t.TempDir(), "layout")
				WriteOCILayout(t, dir, img, "v1")
				args := append([]string{"copy", "--retry-times=0", "--dest-creds", r.Username + ":" + r.Password}, tlsArgs("dest-")...)
				if out, err := skopeo(append(args, "oci:"+dir+":v1", "docker://"+ref)...); err != nil {
					t.Fatalf("skopeo copy: %v\n%s", err, out)
				}
			} else {
				r.Push(t, ref, img)
			}
			inspect := func(creds string) (string, error) {
				args := append([]string{"inspect", "--raw", "--retry-times=0", "--creds", creds}, tlsArgs("")...)
				return skopeo(append(args, "docker://"+ref)...)
			}
			if out, err := inspect("erin:pw"); err != nil || !strings.Contains(out, "schemaVersion") {
				t.Fatalf("skopeo inspect: %v\n%s", err, out)
			}
			if out, err := inspect("erin:wrong"); err == nil {
				t.Fatalf("skopeo inspect with a wrong password succeeded:\n%s", out)
			}
		})
	}
}
