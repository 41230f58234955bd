package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha512"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/testutil"
)

func aciBytes(t testing.TB, manifest string, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if manifest != "" {
		if err := tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(manifest)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !gz {
		return buf.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return z.Bytes()
}

func aciManifest(os, arch string) string {
	return fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","labels":[{"name":"version","value":"1.0"},{"name":"os","value":%q},{"name":"arch","value":%q}]}`, os, arch)
}

func TestReadACIFile(t *testing.T) {
	good := aciManifest("linux", AppcArch(runtime.GOARCH))
	for _, tc := range []struct {
		name, manifest string
		gz             bool
		err            string
	}{
		{"plain", good, false, ""},
		{"gzip", good, true, ""},
		{"no manifest", "", false, "no manifest"},
		{"not json", "{", false, "image manifest"},
		{"bad os", aciManifest("freebsd", AppcArch(runtime.GOARCH)), false, `bad os "freebsd"`},
		{"bad arch", aciManifest("linux", "s390x"), false, `bad arch "s390x"`},
		{"no os", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app"}`, false, "missing os label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := aciBytes(t, tc.manifest, tc.gz)
			file := filepath.Join(t.TempDir(), "x.aci")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			a, err := ReadACIFile(file)
			m, perr := PeekACIManifest(file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ReadACIFile = %v, want error containing %q", err, tc.err)
				}
				if perr == nil || !strings.Contains(perr.Error(), tc.err) {
					t.Fatalf("PeekACIManifest = %v, want error containing %q", perr, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if perr != nil {
				t.Fatalf("PeekACIManifest: %v", perr)
			}
			if got := ACIName(m); got != "example.com/app:1.0" {
				t.Errorf("PeekACIManifest: ACIName = %q", got)
			}
			sum := sha512.Sum512(data)
			if a.Digest != digest.NewDigestFromEncoded(digest.SHA512, fmt.Sprintf("%x", sum)) || a.Size != int64(len(data)) {
				t.Errorf("digest/size = %s/%d", a.Digest, a.Size)
			}
			plain := aciBytes(t, tc.manifest, false)
			if a.DiffID != digest.FromBytes(plain) {
				t.Errorf("diff ID = %s, want %s", a.DiffID, digest.FromBytes(plain))
			}
			if got := ACIName(a.Manifest); got != "example.com/app:1.0" {
				t.Errorf("ACIName = %q", got)
			}
		})
	}
}

// PeekACIManifest stops at the manifest: what follows it is read by the
// whole pass only, which ReadACIFile and ReadACI make.
func TestPeekACIManifestStops(t *testing.T) {
	data := testutil.ACIBrokenAfterManifest(t, aciManifest("linux", AppcArch(runtime.GOARCH)), 512)
	file := filepath.Join(t.TempDir(), "x.aci")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := PeekACIManifest(file)
	if err != nil || m.Name.String() != "example.com/app" {
		t.Fatalf("PeekACIManifest = %v, %v", m, err)
	}
	if _, err := ReadACIFile(file); err == nil || !strings.Contains(err.Error(), "read tar") {
		t.Fatalf("ReadACIFile = %v, want the tar error after the manifest", err)
	}
	if _, err := ReadACI(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "read tar") {
		t.Fatalf("ReadACI = %v, want the tar error after the manifest", err)
	}
}
