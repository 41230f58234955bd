package image

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// wantRepoPathRE is a repository path in the distribution reference
// grammar, written out again here so the test does not trust the code's.
var wantRepoPathRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)

var storedIDRE = regexp.MustCompile(`^(sha256|sha512):[a-f0-9]{2,128}$`)

func FuzzParseReference(f *testing.F) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, s := range []string{
		"docker://busybox", "docker:busybox", "docker://quay.io/coreos/etcd:v3.5.0",
		"docker://127.0.0.1:5000/a/b@sha256:" + hex64, "docker://x:t@sha256:" + hex64,
		"docker://busybox@sha512:" + hex64 + hex64, "docker://busybox@sha384:" + hex64[:48] + hex64[:48],
		"docker://[::1]:5000/x:y", "docker://busybox@sha256:abc", "docker:///", "docker://a//b",
		"docker://example.com/../x", "docker://user:pw@host/x", "docker://h/x@sha256:" + hex64 + "@sha256:" + hex64,
		"oci:/tmp/l", "oci:/tmp/l:ref", "oci::x", "oci:rel:r/e@f", "oci-archive:/x.tar:latest",
		"docker-archive:/x.tar:a:b", "docker-archive:",
		"sha256-abcdef", "sha512:" + hex64, "sha256-A", "busybox", "example.com/app:v1",
		"https://x/y.aci", "ftp://x", "x.aci", "a b", "\x00", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if r != nil {
				t.Fatalf("reference %+v returned with error %v", r, err)
			}
			if !errdefs.Is(err, errdefs.KindInvalidArgument) {
				t.Fatalf("error %q is not an invalid-argument error", err)
			}
			return
		}
		if r == nil {
			t.Fatal("nil reference without error")
		}
		if len(s) > 4096 {
			t.Fatalf("accepted %d bytes of input", len(s))
		}
		if r.Input != s {
			t.Fatalf("Input = %q, want %q", r.Input, s)
		}
		switch r.Transport {
		case Docker:
			assertDockerRef(t, r.Docker)
		case OCILayout, OCIArchive, DockerArchive:
			if !filepath.IsAbs(r.Path) || r.Docker != nil || r.ID != "" || r.Name != "" {
				t.Fatalf("local reference %+v", r)
			}
			if r.Transport != DockerArchive && r.Ref != "" && !refNameRE().MatchString(r.Ref) {
				t.Fatalf("invalid OCI ref name %q accepted", r.Ref)
			}
		case ACIURL:
			if !strings.HasPrefix(r.URL, "http") || r.Path != "" || strings.Contains(r.URL, "@") && strings.Contains(strings.SplitN(r.URL, "/", 4)[2], "@") {
				t.Fatalf("ACI URL reference %+v", r)
			}
		case ACI:
			if !filepath.IsAbs(r.Path) || r.Docker != nil || r.ID != "" || r.Name != "" || r.Ref != "" {
				t.Fatalf("ACI reference %+v", r)
			}
		case Stored:
			if (r.ID == "") == (r.Name == "") {
				t.Fatalf("stored reference %+v has both or neither of ID and Name", r)
			}
			if r.ID != "" && !storedIDRE.MatchString(r.ID) {
				t.Fatalf("stored ID %q is not an algorithm and lowercase hex", r.ID)
			}
			if strings.ContainsAny(r.Name, " \t\n\x00") {
				t.Fatalf("stored name %q accepted", r.Name)
			}
		default:
			t.Fatalf("unknown transport %q", r.Transport)
		}
	})
}

// assertDockerRef asserts what remote.go relies on before it builds URLs
// from a reference.
func assertDockerRef(t *testing.T, ref name.Reference) {
	t.Helper()
	if ref == nil {
		t.Fatal("docker reference is nil")
	}
	repo := ref.Context().RepositoryStr()
	if !wantRepoPathRE.MatchString(repo) {
		t.Fatalf("repository %q is not a valid repository path", repo)
	}
	reg := ref.Context().RegistryStr()
	if reg == "" || strings.ContainsAny(reg, "/@?#% \t\r\n\\") {
		t.Fatalf("registry %q accepted", reg)
	}
	switch r := ref.(type) {
	case name.Digest:
		d, err := digest.Parse(r.DigestStr())
		if err != nil {
			t.Fatalf("digest reference with invalid digest %q: %v", r.DigestStr(), err)
		}
		if d.String() != r.Identifier() {
			t.Fatalf("identifier %q is not the digest %q", r.Identifier(), d)
		}
	case name.Tag:
		if !tagRE().MatchString(r.TagStr()) {
			t.Fatalf("tag %q accepted", r.TagStr())
		}
	default:
		t.Fatalf("docker reference of type %T", ref)
	}
	// The fully qualified name parses back to the same reference.
	back, err := name.ParseReference(ref.Name(), name.StrictValidation)
	if err != nil {
		t.Fatalf("Name() %q does not parse back: %v", ref.Name(), err)
	}
	if back.Name() != ref.Name() {
		t.Fatalf("Name() %q parses back as %q", ref.Name(), back.Name())
	}
}
