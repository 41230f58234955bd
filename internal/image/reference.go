package image

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/trust"
)

// Transport is how an image is reached.
type Transport string

// The transports.
const (
	// Docker is a registry speaking the Docker Registry v2 / OCI
	// distribution API: docker://[registry/]repo[:tag|@digest].
	Docker Transport = "docker"
	// OCILayout is an OCI image layout directory: oci:DIR[:ref].
	OCILayout Transport = "oci"
	// OCIArchive is a tar of an OCI image layout: oci-archive:FILE[:ref].
	OCIArchive Transport = "oci-archive"
	// DockerArchive is the format `docker save` writes: docker-archive:FILE[:ref].
	DockerArchive Transport = "docker-archive"
	// Stored is an image already in the store, by ID prefix or by name.
	Stored Transport = "store"
	// ACI is an appc ACI file: a path (absolute, ./ or ../ relative, or
	// any name ending in .aci) or a file:// URL.
	ACI Transport = "file"
	// ACIURL is an ACI at an https:// (or, allowed, http://) URL; its
	// signature is at the URL with .asc appended.
	ACIURL Transport = "url"
)

// Reference is a parsed image input.
type Reference struct {
	Transport Transport
	// Input is what the user typed.
	Input string
	// Docker is set for the Docker transport.
	Docker name.Reference
	// Path is the layout directory or archive file for the local transports.
	Path string
	// Ref selects an image inside a layout or archive; empty when not given.
	Ref string
	// ID is a full or partial image ID ("sha256:abc…") for Stored by ID.
	ID string
	// Name is the image name for Stored by name.
	Name string
	// URL is the ACI's URL for ACIURL.
	URL string
}

// knownTransports lists the prefixes that name a transport.
var knownTransports = []Transport{Docker, OCIArchive, OCILayout, DockerArchive}

// ParseReference parses one image input as `rkt fetch` and `rkt run` take it.
func ParseReference(s string) (*Reference, error) {
	if s == "" {
		return nil, errdefs.InvalidArgument(errors.New("empty image reference"))
	}
	if len(s) > 4096 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image reference is longer than 4096 bytes"))
	}
	for _, t := range knownTransports {
		p := string(t) + ":"
		if !strings.HasPrefix(s, p) {
			continue
		}
		rest := strings.TrimPrefix(s, p)
		switch t {
		case Docker:
			return parseDocker(s, rest)
		default:
			return parseLocal(s, t, rest)
		}
	}
	if algo, hex, ok := store.ParseImageID(s); ok {
		return &Reference{Transport: Stored, Input: s, ID: algo + ":" + hex}, nil
	}
	if p, ok := strings.CutPrefix(s, "file://"); ok {
		if !filepath.IsAbs(p) {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: a file:// URL needs an absolute path", s))
		}
		return &Reference{Transport: ACI, Input: s, Path: filepath.Clean(p)}, nil
	}
	if i := strings.Index(s, "://"); i > 0 {
		scheme := s[:i]
		switch scheme {
		case "http", "https":
			u, err := url.Parse(s)
			if err != nil || u.Host == "" || u.User != nil {
				return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: not a valid URL without credentials", s))
			}
			return &Reference{Transport: ACIURL, Input: s, URL: u.String()}, nil
		}
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: unknown transport %q (want docker://, oci:, oci-archive:, docker-archive:, or a stored image ID or name)", s, scheme))
	}
	if strings.HasSuffix(s, ".aci") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", s, err)
		}
		return &Reference{Transport: ACI, Input: s, Path: abs}, nil
	}
	if strings.ContainsAny(s, " \t\n\x00") {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: not a valid image name", s))
	}
	return &Reference{Transport: Stored, Input: s, Name: s}, nil
}

func parseDocker(input, rest string) (*Reference, error) {
	rest = strings.TrimPrefix(rest, "//")
	if rest == "" {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: missing repository", input))
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		if _, err := digest.Parse(rest[i+1:]); err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: %q is not a valid digest: %w", input, rest[i+1:], err))
		}
	}
	ref, err := name.ParseReference(rest, name.StrictValidation)
	if err != nil {
		// Accept the short forms docker accepts (busybox, library/busybox).
		ref, err = name.ParseReference(rest)
	}
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: %w", input, err))
	}
	if err := checkDockerRef(ref); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: %w", input, err))
	}
	return &Reference{Transport: Docker, Input: input, Docker: ref}, nil
}

// checkDockerRef rejects what ggcr's parser takes but the reference grammar
// does not: ggcr checks only the characters of the repository path and tag,
// so it takes "docker:///", "docker:.", "example.com/../x" or "busybox:..".
func checkDockerRef(ref name.Reference) error {
	if repo := ref.Context().RepositoryStr(); !repoPathRE().MatchString(repo) {
		return fmt.Errorf("invalid repository name %q", repo)
	}
	if tag, ok := ref.(name.Tag); ok && !tagRE().MatchString(tag.TagStr()) {
		return fmt.Errorf("invalid tag %q", tag.TagStr())
	}
	return nil
}

func parseLocal(input string, t Transport, rest string) (*Reference, error) {
	path, ref := rest, ""
	// The ref follows the last colon after the last slash, so paths with
	// colons in directory names still work.
	slash := strings.LastIndex(rest, "/")
	if i := strings.LastIndex(rest, ":"); i > slash {
		path, ref = rest[:i], rest[i+1:]
	}
	if path == "" {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: missing path", input))
	}
	if t == OCILayout || t == OCIArchive {
		if ref != "" && !refNameRE().MatchString(ref) {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: invalid reference name %q", input, ref))
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", input, err)
	}
	return &Reference{Transport: t, Input: input, Path: abs, Ref: ref}, nil
}

// refNameRE is the grammar of org.opencontainers.image.ref.name values
// (OCI image layout spec), loosened to what tools write in practice.
var refNameRE = lazyRegexp(`^[A-Za-z0-9._\-/+@]{1,255}$`)

// StoreName is the name an image fetched by ref is recorded under: the fully
// qualified docker reference for registries (`index.docker.io/library/busybox:latest`).
func (r *Reference) StoreName() string {
	switch r.Transport {
	case Docker:
		return r.Docker.Name()
	case Stored:
		return r.Name
	}
	return ""
}

// NormalizeName returns the candidate store names a user-typed name may
// refer to: the name itself, and its fully qualified docker form.
func NormalizeName(s string) []string {
	out := []string{s}
	ref, err := name.ParseReference(s)
	if err == nil && ref.Name() != s {
		out = append(out, ref.Name())
	}
	return out
}

// String returns the input as typed.
func (r *Reference) String() string { return r.Input }

var (
	tagRE        = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	nonRepoChars = lazyRegexp(`[^a-zA-Z0-9._-]+`)
	// repoPathRE is a repository path of the distribution reference
	// grammar: slash-separated components of lowercase alphanumerics
	// joined by ".", "_", "__" or dashes.
	repoPathRE = lazyRegexp(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)
	// prefixRegistryRE is a registry host as a trust prefix may name it:
	// a lowercase host name or bracketed IPv6 address, and an optional
	// port.
	prefixRegistryRE = lazyRegexp(`^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?$`)
)

// NormalizeDockerPrefix checks a docker:// trust prefix and returns it in
// the form image references resolve to: docker://REGISTRY for a whole
// registry, or docker://REGISTRY/REPOSITORY, with Docker Hub's names spelled
// out (docker://busybox is docker://index.docker.io/library/busybox, and
// docker://docker.io is docker://index.docker.io). A tag or digest is
// refused: keys are trusted for repositories. The result is what
// trust.Keystore.AddCosignKey takes.
func NormalizeDockerPrefix(p string) (string, error) {
	rest, ok := strings.CutPrefix(p, trust.DockerPrefix)
	bad := func(why string) error {
		return errdefs.InvalidArgument(fmt.Errorf("prefix %q is not a registry or repository prefix (docker://REGISTRY[/REPOSITORY]): %s", p, why))
	}
	if !ok || rest == "" {
		return "", bad("nothing after docker://")
	}
	if len(p) > 512 {
		return "", bad("longer than 512 bytes")
	}
	if strings.ContainsAny(rest, "@") {
		return "", bad("a digest names an image, not a repository")
	}
	host, _, hasPath := strings.Cut(rest, "/")
	// As in image references, the first of several components is a
	// registry when it has a dot, a colon or is localhost. A lone one
	// is a registry only when it has a dot or is localhost: "name:1" is
	// a repository with a tag, refused below.
	isHost := strings.ContainsAny(host, ".:[") || host == "localhost"
	if !hasPath && (strings.ContainsAny(host, ".[") || host == "localhost" || strings.HasPrefix(host, "localhost:")) {
		if !prefixRegistryRE().MatchString(host) {
			return "", bad("invalid registry name")
		}
		reg, err := name.NewRegistry(host)
		if err != nil {
			return "", bad(err.Error())
		}
		return trust.DockerPrefix + reg.Name(), nil
	}
	if isHost && !prefixRegistryRE().MatchString(host) {
		return "", bad("invalid registry name")
	}
	repo, err := name.NewRepository(rest)
	if err != nil {
		return "", bad(err.Error())
	}
	if !repoPathRE().MatchString(repo.RepositoryStr()) {
		return "", bad("invalid repository name")
	}
	return trust.DockerPrefix + repo.Name(), nil
}

// lazyRegexp compiles a pattern on first use, keeping regexp compilation
// off the start-up path of commands that never parse a reference.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
