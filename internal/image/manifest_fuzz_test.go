package image

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// checkLayers asserts what the store relies on for each layer parseManifest
// accepts: a valid digest of a supported algorithm that makes a clean blob
// path, a size within bounds, and a renderable media type.
func checkLayers(t *testing.T, layers []Layer) {
	t.Helper()
	if len(layers) > MaxLayers {
		t.Fatalf("%d layers accepted", len(layers))
	}
	for i, l := range layers {
		if err := l.Digest.Validate(); err != nil {
			t.Fatalf("layer %d: invalid digest %q accepted: %v", i, l.Digest, err)
		}
		if a := l.Digest.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
			t.Fatalf("layer %d: algorithm %q accepted", i, a)
		}
		p, err := blobPath(l.Digest)
		if err != nil || strings.Contains(p, "..") || strings.Count(p, "/") != 2 {
			t.Fatalf("layer %d: blob path %q, %v", i, p, err)
		}
		if l.Size < 0 || l.Size > MaxBlobSize {
			t.Fatalf("layer %d: size %d accepted", i, l.Size)
		}
		if !layerMediaTypes[l.MediaType] {
			t.Fatalf("layer %d: media type %q accepted", i, l.MediaType)
		}
	}
}

func manifestSeeds(t testing.TB) [][]byte {
	cfg := configFor(t, "linux", runtime.GOARCH, digest.FromString("d"))
	l := descOf(types.OCILayer, []byte("l"))
	return [][]byte{
		manifestFor(t, types.OCIManifestSchema1, descOf(types.OCIConfigJSON, cfg), l),
		manifestFor(t, types.DockerManifestSchema2, descOf(types.DockerConfigJSON, cfg), l, descOf(types.DockerLayer, []byte("m"))),
		manifestFor(t, "", descOf("", cfg)),
		[]byte(`{"schemaVersion":2,"config":{"digest":"sha512:` + strings.Repeat("a", 128) + `","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:` + strings.Repeat("b", 64) + `","size":-1}]}`),
		[]byte(`{"schemaVersion":2,"config":{"digest":"sha256:` + strings.Repeat("a", 64) + `","size":1,"urls":["http://x"]}}`),
		[]byte(`{"schemaVersion":2,"layers":[{"digest":"sha256:../../x","size":1}]}`),
		[]byte(`{"config":{"size":9999999999999999999}}`),
		[]byte(`{"layers":null,"config":null}`),
		[]byte(`null`), []byte(`[]`), []byte(`{`), []byte(``),
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range manifestSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, cfg, layers, err := parseManifest(raw)
		if err != nil {
			if m != nil || cfg != "" || layers != nil {
				t.Fatalf("results returned with error %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("invalid config digest %q accepted: %v", cfg, err)
		}
		if a := cfg.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
			t.Fatalf("config algorithm %q accepted", a)
		}
		if m.Config.Size < 0 || m.Config.Size > MaxConfigSize {
			t.Fatalf("config size %d accepted", m.Config.Size)
		}
		if len(layers) != len(m.Layers) {
			t.Fatalf("%d layers returned for %d in the manifest", len(layers), len(m.Layers))
		}
		checkLayers(t, layers)
	})
}

func FuzzParseConfig(f *testing.F) {
	d1, d2 := digest.FromString("1"), digest.FromString("2")
	for _, s := range [][]byte{
		configFor(f, "linux", runtime.GOARCH, d1, d2),
		configFor(f, "linux", runtime.GOARCH),
		configFor(f, "linux", otherArch(), d1),
		[]byte(`{"os":"linux","architecture":"` + runtime.GOARCH + `","rootfs":{"type":"layers","diff_ids":["sha512:` + strings.Repeat("a", 128) + `"]}}`),
		[]byte(`{"os":"linux","architecture":"` + runtime.GOARCH + `","rootfs":{"type":"layers","diff_ids":null},"created":"2020-01-01T00:00:00Z","history":[{"empty_layer":true}]}`),
		[]byte(`{"os":"linux","architecture":"` + runtime.GOARCH + `","config":{"Env":["A=B"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Test":["CMD"]}},"rootfs":{"type":"layers","diff_ids":[]}}`),
		[]byte(`{"created":"not a time"}`), []byte(`null`), []byte(`{`),
	} {
		for n := range uint8(3) {
			f.Add(s, n)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		layers := make([]Layer, int(n)%8)
		for i := range layers {
			layers[i] = Layer{Digest: digest.FromString(strconv.Itoa(i)), Size: 1, MediaType: types.OCILayer}
		}
		cf, err := parseConfig(raw, layers)
		if err != nil {
			if cf != nil {
				t.Fatalf("config returned with error %v", err)
			}
			return
		}
		want := Platform()
		if cf.OS != want.OS || cf.Architecture != want.Architecture || cf.RootFS.Type != "layers" {
			t.Fatalf("config for %s/%s rootfs %q accepted", cf.OS, cf.Architecture, cf.RootFS.Type)
		}
		if len(cf.RootFS.DiffIDs) != len(layers) {
			t.Fatalf("%d diff_ids accepted for %d layers", len(cf.RootFS.DiffIDs), len(layers))
		}
		for i, l := range layers {
			if err := l.DiffID.Validate(); err != nil || l.DiffID.Algorithm() != digest.SHA256 {
				t.Fatalf("layer %d: diff ID %q accepted", i, l.DiffID)
			}
			if l.DiffID.String() != cf.RootFS.DiffIDs[i].String() {
				t.Fatalf("layer %d: diff ID %s, config says %s", i, l.DiffID, cf.RootFS.DiffIDs[i])
			}
		}
	})
}

// Placeholders FuzzResolve replaces with the digest and size of the config
// and manifest, so that mutated documents still reference each other.
const (
	phConfigDigest   = "@CD@"
	phConfigSize     = "@CS@"
	phManifestDigest = "@MD@"
	phManifestSize   = "@MS@"
)

func FuzzResolve(f *testing.F) {
	arch := runtime.GOARCH
	cfg := string(configFor(f, "linux", arch, digest.FromString("a"), digest.FromString("b")))
	layers := `[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + digest.FromString("la").String() + `","size":2},` +
		`{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","digest":"` + digest.FromString("lb").String() + `","size":2}]`
	manifest := func(mt, cmt string) string {
		return `{"schemaVersion":2,"mediaType":"` + mt + `","config":{"mediaType":"` + cmt + `","digest":"` + phConfigDigest + `","size":` + phConfigSize + `},"layers":` + layers + `}`
	}
	index := func(mt, emt string) string {
		return `{"schemaVersion":2,"mediaType":"` + mt + `","manifests":[` +
			`{"mediaType":"` + emt + `","digest":"` + digest.FromString("other").String() + `","size":5,"platform":{"os":"linux","architecture":"` + otherArch() + `"}},` +
			`{"mediaType":"` + emt + `","digest":"` + phManifestDigest + `","size":` + phManifestSize + `,"platform":{"os":"linux","architecture":"` + arch + `"}}]}`
	}
	ociM := manifest(string(types.OCIManifestSchema1), string(types.OCIConfigJSON))
	dockM := manifest(string(types.DockerManifestSchema2), string(types.DockerConfigJSON))
	ociI := index(string(types.OCIImageIndex), string(types.OCIManifestSchema1))
	dockL := index(string(types.DockerManifestList), string(types.DockerManifestSchema2))
	for _, s := range []struct{ given, top, manifest, config string }{
		{"", ociM, "", cfg},
		{string(types.OCIManifestSchema1), ociM, "", cfg},
		{string(types.DockerManifestSchema2) + "; charset=utf-8", dockM, "", cfg},
		{"application/json", ociI, ociM, cfg},
		{"", dockL, dockM, cfg},
		{string(types.OCIImageIndex), ociI, ociI, cfg},
		{"", ociI, ociM, strings.Replace(cfg, "linux", "windows", 1)},
		{"", ociM, "", strings.Replace(cfg, `"layers"`, `"layered"`, 1)},
		{"", `{"schemaVersion":1}`, "", ""},
		{"", `{"schemaVersion":2,"manifests":[]}`, "", ""},
		{"", `{"schemaVersion":2,"config":{"digest":"` + phConfigDigest + `","size":-1}}`, "", cfg},
	} {
		f.Add(s.given, []byte(s.top), []byte(s.manifest), []byte(s.config))
	}
	f.Fuzz(func(t *testing.T, given string, top, manifest, config []byte) {
		cd := digest.FromBytes(config)
		manifest = fill(manifest, phConfigDigest, cd.String(), phConfigSize, len(config))
		md := digest.FromBytes(manifest)
		top = fill(top, phConfigDigest, cd.String(), phConfigSize, len(config))
		top = fill(top, phManifestDigest, md.String(), phManifestSize, len(manifest))
		g := newGetter(config, manifest)
		r, err := resolve("fuzz", given, top, "", func(d v1.Descriptor, limit int64) ([]byte, error) {
			// Rule 5: a digest is checked before it is used to fetch.
			if _, err := digest.Parse(d.Digest.String()); err != nil {
				t.Fatalf("getter called with invalid digest %q", d.Digest.String())
			}
			if d.Size < 0 || d.Size > MaxBlobSize || limit <= 0 {
				t.Fatalf("getter called with size %d limit %d", d.Size, limit)
			}
			return g.get(d, limit)
		})
		if err != nil {
			if r != nil {
				t.Fatalf("resolved returned with error %v", err)
			}
			return
		}
		if !r.MediaType.IsImage() {
			t.Fatalf("resolved a %q", r.MediaType)
		}
		if err := r.Digest.Validate(); err != nil {
			t.Fatalf("invalid manifest digest %q", r.Digest)
		}
		if r.Digest != digest.FromBytes(r.Manifest) {
			t.Fatalf("manifest digest %s is not that of the manifest bytes", r.Digest)
		}
		if r.Index == "" && !bytes.Equal(r.Manifest, top) {
			t.Fatal("resolved manifest is not the document given")
		}
		if r.Index != "" && r.Index != digest.FromBytes(top) {
			t.Fatalf("index digest %s is not that of the index bytes", r.Index)
		}
		if err := verify("config", r.ConfigDigest, r.Config); err != nil {
			t.Fatalf("config does not match its digest: %v", err)
		}
		if r.ConfigFile == nil || len(r.ConfigFile.RootFS.DiffIDs) != len(r.Layers) {
			t.Fatalf("config file %+v for %d layers", r.ConfigFile, len(r.Layers))
		}
		checkLayers(t, r.Layers)
		for i, l := range r.Layers {
			if l.DiffID.Validate() != nil || l.DiffID.Algorithm() != digest.SHA256 {
				t.Fatalf("layer %d: diff ID %q", i, l.DiffID)
			}
		}
	})
}

// fill replaces a digest and a size placeholder in b.
func fill(b []byte, dph, d, sph string, size int) []byte {
	b = bytes.ReplaceAll(b, []byte(dph), []byte(d))
	return bytes.ReplaceAll(b, []byte(sph), []byte(fmt.Sprint(size)))
}
