package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// Limits on what is read from an image source. Real manifests are a few KiB
// and configs rarely pass 100 KiB.
const (
	MaxManifestSize = 4 << 20
	MaxConfigSize   = 8 << 20
	MaxLayers       = 1000
	MaxIndexEntries = 1000
	// MaxBlobSize bounds one layer blob as declared by its manifest.
	MaxBlobSize = 64 << 30
)

// Layer is one layer of a resolved image.
type Layer struct {
	Digest    digest.Digest // of the blob as stored (compressed)
	Size      int64
	MediaType types.MediaType
	DiffID    digest.Digest // of the uncompressed tar, from the config
}

// Resolved is an image manifest for this platform with its config, both
// checked against their digests.
type Resolved struct {
	// Name is the name the image is stored under.
	Name string
	// Digest is the manifest digest: the image ID.
	Digest    digest.Digest
	MediaType types.MediaType
	Manifest  []byte
	// ConfigDigest and Config are the config blob and its bytes.
	ConfigDigest    digest.Digest
	ConfigMediaType types.MediaType
	Config          []byte
	ConfigFile      *v1.ConfigFile
	Layers          []Layer
	// Index is the digest of the index the manifest was picked from, if any.
	Index digest.Digest
}

// Platform is the platform manifests are picked for.
func Platform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// mediaTypeOf returns the media type of a manifest or index document: the
// one given by the source (Content-Type or descriptor) when it is a known
// one, else the document's own mediaType field.
func mediaTypeOf(given string, raw []byte) (types.MediaType, error) {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", fmt.Errorf("parse manifest: %w", err)
	}
	mt := types.MediaType(given)
	if i := strings.IndexByte(given, ';'); i >= 0 {
		mt = types.MediaType(strings.TrimSpace(given[:i]))
	}
	if !mt.IsImage() && !mt.IsIndex() && !mt.IsSchema1() {
		mt = probe.MediaType
	}
	if mt == "" {
		// OCI documents may omit mediaType; tell them apart by shape.
		switch {
		case probe.Manifests != nil:
			mt = types.OCIImageIndex
		case probe.Config != nil:
			mt = types.OCIManifestSchema1
		}
	}
	if probe.MediaType != "" && probe.MediaType != mt {
		return "", fmt.Errorf("manifest media type %q does not match %q", probe.MediaType, mt)
	}
	switch {
	case mt.IsSchema1() || probe.SchemaVersion == 1:
		return "", errdefs.InvalidArgument(errors.New("docker schema 1 manifests are not supported"))
	case mt.IsImage(), mt.IsIndex():
		if probe.SchemaVersion != 2 {
			return "", fmt.Errorf("unsupported manifest schemaVersion %d", probe.SchemaVersion)
		}
		return mt, nil
	}
	return "", errdefs.InvalidArgument(fmt.Errorf("unsupported manifest media type %q", mt))
}

// checkDescriptor validates a descriptor read from hostile JSON.
func checkDescriptor(what string, d v1.Descriptor) (digest.Digest, error) {
	dg, err := checkDigest(what, d.Digest.String())
	if err != nil {
		return "", err
	}
	if d.Size < 0 || d.Size > MaxBlobSize {
		return "", fmt.Errorf("%s %s: invalid size %d", what, dg, d.Size)
	}
	if len(d.URLs) > 0 {
		return "", fmt.Errorf("%s %s: foreign layers with URLs are not supported", what, dg)
	}
	return dg, nil
}

// checkDigest parses the digest of a descriptor read from hostile JSON:
// well-formed, and sha256 or sha512.
func checkDigest(what, s string) (digest.Digest, error) {
	dg, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s: invalid digest %q: %w", what, s, err)
	}
	if dg.Algorithm() != digest.SHA256 && dg.Algorithm() != digest.SHA512 {
		return "", fmt.Errorf("%s: unsupported digest algorithm %q", what, dg.Algorithm())
	}
	return dg, nil
}

// layerMediaTypes are the layer media types rkt can render.
var layerMediaTypes = map[types.MediaType]bool{
	types.OCILayer:                                      true,
	types.OCILayerZStd:                                  true,
	types.OCIUncompressedLayer:                          true,
	types.OCIRestrictedLayer:                            true,
	types.OCIUncompressedRestrictedLayer:                true,
	types.DockerLayer:                                   true,
	types.DockerUncompressedLayer:                       true,
	"application/vnd.docker.image.rootfs.diff.tar.zstd": true,
}

// parseManifest validates an image manifest and returns its config
// descriptor and layers (DiffIDs not yet filled).
func parseManifest(raw []byte) (*v1.Manifest, digest.Digest, []Layer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, "", nil, fmt.Errorf("parse manifest: %w", namedDigestError(raw, err))
	}
	if !m.Config.MediaType.IsConfig() && m.Config.MediaType != "" {
		return nil, "", nil, errdefs.InvalidArgument(fmt.Errorf("unsupported config media type %q (not a container image)", m.Config.MediaType))
	}
	cfg, err := checkDescriptor("config", m.Config)
	if err != nil {
		return nil, "", nil, err
	}
	if m.Config.Size > MaxConfigSize {
		return nil, "", nil, errdefs.TooLarge(fmt.Errorf("config %s: size %d is over the %d byte limit", cfg, m.Config.Size, MaxConfigSize))
	}
	if len(m.Layers) > MaxLayers {
		return nil, "", nil, errdefs.TooLarge(fmt.Errorf("manifest has %d layers, more than %d", len(m.Layers), MaxLayers))
	}
	layers := make([]Layer, 0, len(m.Layers))
	for i, l := range m.Layers {
		d, err := checkDescriptor(fmt.Sprintf("layer %d", i), l)
		if err != nil {
			return nil, "", nil, err
		}
		if !layerMediaTypes[l.MediaType] {
			return nil, "", nil, errdefs.InvalidArgument(fmt.Errorf("layer %s: unsupported media type %q", d, l.MediaType))
		}
		layers = append(layers, Layer{Digest: d, Size: l.Size, MediaType: l.MediaType})
	}
	return m, cfg, layers, nil
}

// parseConfig validates an image config against the manifest's layers and
// fills their DiffIDs.
func parseConfig(raw []byte, layers []Layer) (*v1.ConfigFile, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	want := Platform()
	if cf.OS != want.OS || cf.Architecture != want.Architecture {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image is for %s/%s, not %s/%s", cf.OS, cf.Architecture, want.OS, want.Architecture))
	}
	if cf.RootFS.Type != "layers" {
		return nil, fmt.Errorf("config rootfs type %q is not \"layers\"", cf.RootFS.Type)
	}
	if len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("config lists %d diff_ids for %d layers", len(cf.RootFS.DiffIDs), len(layers))
	}
	for i, h := range cf.RootFS.DiffIDs {
		d, err := digest.Parse(h.String())
		if err != nil || d.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("config diff_id %d: invalid digest %q", i, h.String())
		}
		layers[i].DiffID = d
	}
	return cf, nil
}

// namedDigestError returns err, or, when a descriptor of the manifest or
// index raw has a malformed digest (which ggcr's parser rejects without
// naming it), an error that names the descriptor and the digest.
func namedDigestError(raw []byte, err error) error {
	type desc struct {
		Digest *string `json:"digest"`
	}
	var probe struct {
		Config    desc   `json:"config"`
		Layers    []desc `json:"layers"`
		Manifests []desc `json:"manifests"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return err
	}
	check := func(what string, d desc) error {
		if d.Digest == nil {
			return nil
		}
		if _, perr := digest.Parse(*d.Digest); perr != nil {
			return fmt.Errorf("%s: invalid digest %q: %w", what, *d.Digest, perr)
		}
		return nil
	}
	if e := check("config", probe.Config); e != nil {
		return e
	}
	for i, l := range probe.Layers {
		if e := check(fmt.Sprintf("layer %d", i), l); e != nil {
			return e
		}
	}
	for i, m := range probe.Manifests {
		if e := check(fmt.Sprintf("manifest %d", i), m); e != nil {
			return e
		}
	}
	return err
}

// pickPlatform picks this platform's manifest from an index.
func pickPlatform(raw []byte) (v1.Descriptor, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("parse index: %w", namedDigestError(raw, err))
	}
	if len(idx.Manifests) > MaxIndexEntries {
		return v1.Descriptor{}, errdefs.TooLarge(fmt.Errorf("index has %d entries, more than %d", len(idx.Manifests), MaxIndexEntries))
	}
	want := Platform()
	var seen []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		p := d.Platform
		seen = append(seen, p.OS+"/"+p.Architecture)
		if p.OS == want.OS && p.Architecture == want.Architecture && d.MediaType.IsImage() {
			if _, err := checkDescriptor("manifest", d); err != nil {
				return v1.Descriptor{}, err
			}
			if d.Size > MaxManifestSize {
				return v1.Descriptor{}, errdefs.TooLarge(fmt.Errorf("manifest %s: size %d is over the %d byte limit", d.Digest, d.Size, MaxManifestSize))
			}
			return d, nil
		}
	}
	return v1.Descriptor{}, errdefs.NotFound(fmt.Errorf("no manifest for %s/%s in the index (it has: %s)", want.OS, want.Architecture, strings.Join(seen, ", ")))
}

// verify checks that raw hashes to want.
func verify(what string, want digest.Digest, raw []byte) error {
	got := want.Algorithm().FromBytes(raw)
	if got != want {
		return errdefs.DigestMismatch(fmt.Errorf("%s: content digest is %s, want %s", what, got, want))
	}
	return nil
}

// resolve completes a Resolved from a manifest or index document, using get
// to read manifests and the config by descriptor.
func resolve(name string, mediaType string, raw []byte, known digest.Digest, get func(d v1.Descriptor, limit int64) ([]byte, error)) (*Resolved, error) {
	mt, err := mediaTypeOf(mediaType, raw)
	if err != nil {
		return nil, err
	}
	dg := known
	if dg == "" {
		dg = digest.FromBytes(raw)
	}
	r := &Resolved{Name: name}
	if mt.IsIndex() {
		d, err := pickPlatform(raw)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", dg, err)
		}
		r.Index = dg
		if raw, err = get(d, MaxManifestSize); err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", d.Digest, err)
		}
		dg = digest.Digest(d.Digest.String())
		if err := verify("manifest "+dg.String(), dg, raw); err != nil {
			return nil, err
		}
		if mt, err = mediaTypeOf(string(d.MediaType), raw); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", dg, err)
		}
		if !mt.IsImage() {
			return nil, fmt.Errorf("manifest %s: nested index is not supported", dg)
		}
	}
	r.Digest, r.MediaType, r.Manifest = dg, mt, raw
	m, cfg, layers, err := parseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", dg, err)
	}
	r.ConfigDigest, r.ConfigMediaType = cfg, m.Config.MediaType
	if r.Config, err = get(m.Config, MaxConfigSize); err != nil {
		return nil, fmt.Errorf("read config %s: %w", cfg, err)
	}
	if err := verify("config "+cfg.String(), cfg, r.Config); err != nil {
		return nil, err
	}
	if r.ConfigFile, err = parseConfig(r.Config, layers); err != nil {
		return nil, fmt.Errorf("config %s: %w", cfg, err)
	}
	r.Layers = layers
	return r, nil
}
