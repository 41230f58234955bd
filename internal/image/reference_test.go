package image

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/rkt/rkt/internal/errdefs"
)

func TestParseReference(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		in   string
		want Reference // Input is filled from in; Docker is checked by dockerName/dockerID
		// For Docker references: the fully qualified name and identifier.
		dockerName, dockerID string
		digestRef            bool
		wantErr              string
	}{
		// docker://
		{in: "docker://busybox", want: Reference{Transport: Docker}, dockerName: "index.docker.io/library/busybox:latest", dockerID: "latest"},
		{in: "docker:busybox", want: Reference{Transport: Docker}, dockerName: "index.docker.io/library/busybox:latest", dockerID: "latest"},
		{in: "docker://docker.io/library/busybox:1.36", want: Reference{Transport: Docker}, dockerName: "index.docker.io/library/busybox:1.36", dockerID: "1.36"},
		{in: "docker://quay.io/coreos/etcd:v3.5.0", want: Reference{Transport: Docker}, dockerName: "quay.io/coreos/etcd:v3.5.0", dockerID: "v3.5.0"},
		{in: "docker://127.0.0.1:5000/app", want: Reference{Transport: Docker}, dockerName: "127.0.0.1:5000/app:latest", dockerID: "latest"},
		{in: "docker://localhost/a/b/c:t", want: Reference{Transport: Docker}, dockerName: "localhost/a/b/c:t", dockerID: "t"},
		{in: "docker://[::1]:5000/app:t", want: Reference{Transport: Docker}, dockerName: "[::1]:5000/app:t", dockerID: "t"},
		{
			in: "docker://127.0.0.1:5000/app@sha256:" + hex64, want: Reference{Transport: Docker},
			dockerName: "127.0.0.1:5000/app@sha256:" + hex64, dockerID: "sha256:" + hex64, digestRef: true,
		},
		{
			in: "docker://quay.io/app:v1@sha256:" + hex64, want: Reference{Transport: Docker},
			dockerName: "quay.io/app@sha256:" + hex64, dockerID: "sha256:" + hex64, digestRef: true,
		},
		{in: "docker://", wantErr: "missing repository"},
		{in: "docker:", wantErr: "missing repository"},
		{in: "docker:///", wantErr: `invalid repository name "/"`},
		{in: "docker:.", wantErr: `invalid repository name "library/."`},
		{in: "docker:/busybox", wantErr: `invalid repository name "/busybox"`},
		{in: "docker://a//b", wantErr: `invalid repository name "a//b"`},
		{in: "docker://example.com/../x", wantErr: `invalid repository name "../x"`},
		{in: "docker://example.com/a/./b:t", wantErr: `invalid repository name "a/./b"`},
		{in: "docker://example.com/a/:t", wantErr: `invalid repository name "a/"`},
		{in: "docker://busybox:..", wantErr: `invalid tag ".."`},
		{in: "docker:0:.", wantErr: `invalid tag "."`},
		{in: "docker://busybox:-x", wantErr: `invalid tag "-x"`},
		{in: "docker://busybox:_x.Y-1", want: Reference{Transport: Docker}, dockerName: "index.docker.io/library/busybox:_x.Y-1", dockerID: "_x.Y-1"},
		{in: "docker://-a", wantErr: `invalid repository name "library/-a"`},
		{in: "docker://a.@sha256:" + hex64, wantErr: `invalid repository name "library/a."`},
		{in: "docker://busybox@sha256:abc", wantErr: "is not a valid digest"},
		{in: "docker://busybox@sha256:" + strings.ToUpper(hex64), wantErr: "is not a valid digest"},
		{in: "docker://busybox@sha256:" + hex64 + "00", wantErr: "is not a valid digest"},
		{in: "docker://busybox@md5:d41d8cd98f00b204e9800998ecf8427e", wantErr: "is not a valid digest"},
		{in: "docker://busybox@", wantErr: "is not a valid digest"},
		{in: "docker://busybox@sha256:../../../etc/passwd", wantErr: "is not a valid digest"},
		{in: "docker://busybox@sha256:" + hex64 + "@sha256:" + hex64, wantErr: "could not parse reference"},
		{in: "docker://Busybox", wantErr: "could not parse reference"},
		{in: "docker://busybox:bad tag", wantErr: "could not parse reference"},
		{in: "docker://busybox:" + strings.Repeat("t", 129), wantErr: "could not parse reference"},
		{in: "docker://user:pass@example.com/app", wantErr: "is not a valid digest"},
		{in: "docker://example.com?x=1/app", wantErr: "could not parse reference"},
		{in: "docker://http://example.com/app", wantErr: "must not contain a URL scheme"},
		{in: "docker://a__b/c-d/e.f/g---h", want: Reference{Transport: Docker}, dockerName: "index.docker.io/a__b/c-d/e.f/g---h:latest", dockerID: "latest"},

		// oci:, oci-archive:, docker-archive:
		{in: "oci:/tmp/layout", want: Reference{Transport: OCILayout, Path: "/tmp/layout"}},
		{in: "oci:/tmp/layout:v1.0", want: Reference{Transport: OCILayout, Path: "/tmp/layout", Ref: "v1.0"}},
		{in: "oci:/tmp/layout:", want: Reference{Transport: OCILayout, Path: "/tmp/layout"}},
		{in: "oci:/tmp/a:b/layout", want: Reference{Transport: OCILayout, Path: "/tmp/a:b/layout"}},
		{in: "oci:/tmp/a:b/layout:ref", want: Reference{Transport: OCILayout, Path: "/tmp/a:b/layout", Ref: "ref"}},
		{in: "oci:rel/dir:tag", want: Reference{Transport: OCILayout, Path: filepath.Join(cwd, "rel/dir"), Ref: "tag"}},
		{in: "oci:/tmp/x/../layout", want: Reference{Transport: OCILayout, Path: "/tmp/layout"}},
		{in: "oci:/tmp/l:quay.io/app@x+y", want: Reference{Transport: OCILayout, Path: "/tmp/l:quay.io/app@x+y"}},
		{in: "oci:", wantErr: "missing path"},
		{in: "oci::v1", wantErr: "missing path"},
		{in: "oci:/tmp/l:bad ref", wantErr: `invalid reference name "bad ref"`},
		{in: "oci:/tmp/l:" + strings.Repeat("r", 256), wantErr: "invalid reference name"},
		{in: "oci:/tmp/l:a\nb", wantErr: "invalid reference name"},
		{in: "oci-archive:/tmp/img.tar", want: Reference{Transport: OCIArchive, Path: "/tmp/img.tar"}},
		{in: "oci-archive:/tmp/img.tar:latest", want: Reference{Transport: OCIArchive, Path: "/tmp/img.tar", Ref: "latest"}},
		{in: "oci-archive:/tmp/img.tar:$(id)", wantErr: "invalid reference name"},
		{in: "oci-archive:", wantErr: "missing path"},
		{in: "docker-archive:/tmp/img.tar", want: Reference{Transport: DockerArchive, Path: "/tmp/img.tar"}},
		{in: "docker-archive:/tmp/img.tar:v2", want: Reference{Transport: DockerArchive, Path: "/tmp/img.tar", Ref: "v2"}},
		{in: "docker-archive:", wantErr: "missing path"},

		// Stored images by ID.
		{in: "sha256-abcdef", want: Reference{Transport: Stored, ID: "sha256:abcdef"}},
		{in: "sha256:ab", want: Reference{Transport: Stored, ID: "sha256:ab"}},
		{in: "sha512-" + hex64, want: Reference{Transport: Stored, ID: "sha512:" + hex64}},
		{in: "sha256-" + hex64, want: Reference{Transport: Stored, ID: "sha256:" + hex64}},
		// Not IDs: too short, uppercase, other algorithms. They are names.
		{in: "sha256-a", want: Reference{Transport: Stored, Name: "sha256-a"}},
		{in: "sha256-ABCD", want: Reference{Transport: Stored, Name: "sha256-ABCD"}},
		{in: "md5-abcdef", want: Reference{Transport: Stored, Name: "md5-abcdef"}},
		{in: "sha256-abcdefg", want: Reference{Transport: Stored, Name: "sha256-abcdefg"}},

		// Stored images by name.
		{in: "busybox", want: Reference{Transport: Stored, Name: "busybox"}},
		{in: "example.com/app:v1", want: Reference{Transport: Stored, Name: "example.com/app:v1"}},
		{in: "coreos.com/etcd,version=v3", want: Reference{Transport: Stored, Name: "coreos.com/etcd,version=v3"}},
		{in: "docker-daemon:busybox", want: Reference{Transport: Stored, Name: "docker-daemon:busybox"}},
		{in: "bad name", wantErr: "not a valid image name"},
		{in: "bad\tname", wantErr: "not a valid image name"},
		{in: "bad\nname", wantErr: "not a valid image name"},
		{in: "bad\x00name", wantErr: "not a valid image name"},

		// Unsupported and unknown transports.
		{in: "https://example.com/app.aci", want: Reference{Transport: ACIURL, URL: "https://example.com/app.aci"}},
		{in: "http://example.com/app.aci", want: Reference{Transport: ACIURL, URL: "http://example.com/app.aci"}},
		{in: "https://user:pw@example.com/app.aci", wantErr: "without credentials"},
		{in: "file://tmp/app.aci", wantErr: "needs an absolute path"},
		{in: "ftp://example.com/x", wantErr: `unknown transport "ftp"`},
		{in: "containers-storage://x", wantErr: `unknown transport "containers-storage"`},

		// ACI files.
		{in: "file:///tmp/x/../app.aci", want: Reference{Transport: ACI, Path: "/tmp/app.aci"}},
		{in: "/tmp/app.aci", want: Reference{Transport: ACI, Path: "/tmp/app.aci"}},
		{in: "/srv/images/app", want: Reference{Transport: ACI, Path: "/srv/images/app"}},

		// Empty and over-long input.
		{in: "", wantErr: "empty image reference"},
		{in: strings.Repeat("a", 4097), wantErr: "longer than 4096 bytes"},
		{in: "docker://" + strings.Repeat("a", 4090), wantErr: "longer than 4096 bytes"},
		{in: "oci:/" + strings.Repeat("a", 5000), wantErr: "longer than 4096 bytes"},
	}
	for _, tc := range tests {
		sub := tc.in
		if len(sub) > 60 {
			sub = sub[:60]
		}
		t.Run(sub, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if tc.wantErr != "" {
				if r != nil {
					t.Errorf("got a reference %+v with the error", r)
				}
				wantErr(t, err, errdefs.KindInvalidArgument, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tc.in, err)
			}
			if r.Input != tc.in || r.String() != tc.in {
				t.Errorf("Input = %q, String() = %q, want %q", r.Input, r.String(), tc.in)
			}
			got := *r
			got.Input, got.Docker = "", nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseReference(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if tc.want.Transport != Docker {
				if r.Docker != nil {
					t.Errorf("Docker set for transport %s", r.Transport)
				}
				return
			}
			if r.Docker == nil {
				t.Fatal("Docker is nil")
			}
			if r.Docker.Name() != tc.dockerName || r.Docker.Identifier() != tc.dockerID {
				t.Errorf("Docker = %q (id %q), want %q (id %q)", r.Docker.Name(), r.Docker.Identifier(), tc.dockerName, tc.dockerID)
			}
			if _, isDigest := r.Docker.(name.Digest); isDigest != tc.digestRef {
				t.Errorf("Docker is a digest reference: %v, want %v", isDigest, tc.digestRef)
			}
		})
	}
}

func TestStoreName(t *testing.T) {
	tests := map[string]string{
		"docker://busybox":             "index.docker.io/library/busybox",
		"docker://quay.io/a/b:v1":      "quay.io/a/b",
		"docker://127.0.0.1:5000/x:t":  "127.0.0.1:5000/x",
		"example.com/app:v1":           "example.com/app:v1",
		"sha256-abcdef":                "",
		"oci:/tmp/layout:v1":           "",
		"oci-archive:/tmp/x.tar":       "",
		"docker-archive:/tmp/x.tar:v1": "",
	}
	for in, want := range tests {
		r, err := ParseReference(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		// Docker StoreName is the repository; the tag or digest is kept by the caller.
		got := r.StoreName()
		if r.Transport == Docker {
			got = r.Docker.Context().Name()
		}
		if got != want {
			t.Errorf("%s: StoreName = %q, want %q", in, got, want)
		}
		if r.Transport == Docker && r.StoreName() != r.Docker.Name() {
			t.Errorf("%s: StoreName = %q, want the docker name %q", in, r.StoreName(), r.Docker.Name())
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"busybox", []string{"busybox", "index.docker.io/library/busybox:latest"}},
		{"busybox:1.36", []string{"busybox:1.36", "index.docker.io/library/busybox:1.36"}},
		{"library/busybox", []string{"library/busybox", "index.docker.io/library/busybox:latest"}},
		{"docker.io/library/busybox:latest", []string{"docker.io/library/busybox:latest", "index.docker.io/library/busybox:latest"}},
		{"index.docker.io/library/busybox:latest", []string{"index.docker.io/library/busybox:latest"}},
		{"quay.io/a/b:v1", []string{"quay.io/a/b:v1"}},
		{"localhost:5000/x", []string{"localhost:5000/x", "localhost:5000/x:latest"}},
		{"Bad Name", []string{"Bad Name"}},
		{"", []string{""}},
	}
	for _, tc := range tests {
		if got := NormalizeName(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("NormalizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeDockerPrefix(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"docker://127.0.0.1:5000/busybox", "docker://127.0.0.1:5000/busybox", ""},
		{"docker://127.0.0.1:5000", "docker://127.0.0.1:5000", ""},
		{"docker://registry.example.com/team/app", "docker://registry.example.com/team/app", ""},
		{"docker://localhost/app", "docker://localhost/app", ""},
		{"docker://busybox", "docker://index.docker.io/library/busybox", ""},
		{"docker://docker.io/library/busybox", "docker://index.docker.io/library/busybox", ""},
		{"docker://docker.io", "docker://index.docker.io", ""},
		{"docker://someone/app", "docker://index.docker.io/someone/app", ""},
		{"docker://[::1]:5000/app", "docker://[::1]:5000/app", ""},
		{"docker://", "", "nothing after"},
		{"docker://busybox:latest", "", "not a registry or repository prefix"},
		{"docker://busybox:1", "", "not a registry or repository prefix"},
		{"docker://localhost:5000", "docker://localhost:5000", ""},
		{"docker://example.com:5000", "docker://example.com:5000", ""},
		{"docker://busybox@sha256:" + strings.Repeat("1", 64), "", "a digest names an image"},
		{"docker://example.com/../x", "", "invalid repository name"},
		{"docker://example.com/App", "", "not a registry or repository prefix"},
		{"docker://example.com/app/", "", "not a registry or repository prefix"},
		{"docker://Example.com/app", "", "invalid registry name"},
		{"docker://-x.com/app", "", "invalid registry name"},
		{"example.com/app", "", "nothing after docker://"},
	} {
		got, err := NormalizeDockerPrefix(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v (got %q), want %q", c.in, err, got, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
