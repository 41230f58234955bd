package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

func TestPlatform(t *testing.T) {
	if p := Platform(); p.OS != "linux" || p.Architecture != runtime.GOARCH {
		t.Errorf("Platform() = %+v", p)
	}
}

func TestMediaTypeOf(t *testing.T) {
	const (
		ociM   = types.OCIManifestSchema1
		ociI   = types.OCIImageIndex
		dockM  = types.DockerManifestSchema2
		dockL  = types.DockerManifestList
		schema = `"schemaVersion":2`
	)
	tests := []struct {
		name    string
		given   string
		raw     string
		want    types.MediaType
		kind    errdefs.Kind
		wantErr string
	}{
		{name: "given OCI manifest, no field", given: string(ociM), raw: `{` + schema + `,"config":{}}`, want: ociM},
		{name: "given with parameters", given: string(dockM) + "; charset=utf-8", raw: `{` + schema + `}`, want: dockM},
		{name: "given docker list", given: string(dockL), raw: `{` + schema + `,"manifests":[]}`, want: dockL},
		{name: "field when given is generic", given: "application/json", raw: `{` + schema + `,"mediaType":"` + string(dockM) + `"}`, want: dockM},
		{name: "field when given is empty", given: "", raw: `{` + schema + `,"mediaType":"` + string(ociI) + `"}`, want: ociI},
		{name: "index by shape", given: "text/plain", raw: `{` + schema + `,"manifests":[]}`, want: ociI},
		{name: "manifest by shape", given: "", raw: `{` + schema + `,"config":{},"layers":[]}`, want: ociM},
		{name: "field and given agree", given: string(ociM), raw: `{` + schema + `,"mediaType":"` + string(ociM) + `"}`, want: ociM},
		{name: "field and given disagree", given: string(ociM), raw: `{` + schema + `,"mediaType":"` + string(dockM) + `"}`, wantErr: "does not match"},
		{name: "field index, given manifest", given: string(dockM), raw: `{` + schema + `,"mediaType":"` + string(ociI) + `"}`, wantErr: "does not match"},
		{name: "no type at all", given: "", raw: `{` + schema + `}`, kind: errdefs.KindInvalidArgument, wantErr: `unsupported manifest media type ""`},
		{name: "config type", given: "", raw: `{` + schema + `,"mediaType":"application/vnd.oci.image.config.v1+json"}`, kind: errdefs.KindInvalidArgument, wantErr: "unsupported manifest media type"},
		{name: "schema 1 by version", given: "", raw: `{"schemaVersion":1,"mediaType":"` + string(dockM) + `"}`, kind: errdefs.KindInvalidArgument, wantErr: "schema 1"},
		{name: "schema 1 by type", given: string(types.DockerManifestSchema1Signed), raw: `{"schemaVersion":1}`, kind: errdefs.KindInvalidArgument, wantErr: "schema 1"},
		{name: "schema 1 by field", given: "", raw: `{"schemaVersion":1,"mediaType":"` + string(types.DockerManifestSchema1) + `"}`, kind: errdefs.KindInvalidArgument, wantErr: "schema 1"},
		{name: "schema version 3", given: string(ociM), raw: `{"schemaVersion":3}`, wantErr: "unsupported manifest schemaVersion 3"},
		{name: "no schema version", given: string(ociM), raw: `{}`, wantErr: "unsupported manifest schemaVersion 0"},
		{name: "not JSON", given: string(ociM), raw: `<html>`, wantErr: "parse manifest"},
		{name: "JSON array", given: string(ociM), raw: `[]`, wantErr: "parse manifest"},
		{name: "empty", given: string(ociM), raw: ``, wantErr: "parse manifest"},
		{name: "schemaVersion string", given: string(ociM), raw: `{"schemaVersion":"2"}`, wantErr: "parse manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mt, err := mediaTypeOf(tc.given, []byte(tc.raw))
			if tc.wantErr != "" {
				if mt != "" {
					t.Errorf("media type %q returned with the error", mt)
				}
				wantErr(t, err, tc.kind, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("mediaTypeOf: %v", err)
			}
			if mt != tc.want {
				t.Errorf("mediaTypeOf = %q, want %q", mt, tc.want)
			}
		})
	}
}

func TestCheckDescriptor(t *testing.T) {
	hex64 := strings.Repeat("a", 64)
	good := v1.Hash{Algorithm: "sha256", Hex: hex64}
	tests := []struct {
		name    string
		d       v1.Descriptor
		want    digest.Digest
		wantErr string
	}{
		{name: "ok", d: v1.Descriptor{Digest: good, Size: 10}, want: digest.Digest("sha256:" + hex64)},
		{name: "zero size", d: v1.Descriptor{Digest: good}, want: digest.Digest("sha256:" + hex64)},
		{name: "max size", d: v1.Descriptor{Digest: good, Size: MaxBlobSize}, want: digest.Digest("sha256:" + hex64)},
		{name: "sha512", d: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("b", 128)}, Size: 1}, want: digest.Digest("sha512:" + strings.Repeat("b", 128))},
		{name: "empty digest", d: v1.Descriptor{Size: 1}, wantErr: "invalid digest"},
		{name: "short hex", d: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: "abc"}}, wantErr: "invalid digest"},
		{name: "uppercase hex", d: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.ToUpper(hex64)}}, wantErr: "invalid digest"},
		{name: "path in hex", d: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: "../../../../etc/passwd"}}, wantErr: "invalid digest"},
		{name: "unknown algorithm", d: v1.Descriptor{Digest: v1.Hash{Algorithm: "md5", Hex: strings.Repeat("a", 32)}}, wantErr: "invalid digest"},
		{name: "sha384", d: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha384", Hex: strings.Repeat("a", 96)}}, wantErr: `unsupported digest algorithm "sha384"`},
		{name: "negative size", d: v1.Descriptor{Digest: good, Size: -1}, wantErr: "invalid size -1"},
		{name: "too large", d: v1.Descriptor{Digest: good, Size: MaxBlobSize + 1}, wantErr: "invalid size"},
		{name: "foreign layer", d: v1.Descriptor{Digest: good, Size: 1, URLs: []string{"https://example.com/blob"}}, wantErr: "foreign layers with URLs are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkDescriptor("thing", tc.d)
			if tc.wantErr != "" {
				wantErr(t, err, errdefs.KindUnknown, "thing", tc.wantErr)
				if got != "" {
					t.Errorf("digest %q returned with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("checkDescriptor = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	cfg := configFor(t, "linux", runtime.GOARCH)
	cfgDesc := descOf(types.OCIConfigJSON, cfg)
	l1 := descOf(types.OCILayer, []byte("layer one"))
	l2 := descOf(types.DockerUncompressedLayer, []byte("layer two"))
	l3 := descOf("application/vnd.docker.image.rootfs.diff.tar.zstd", []byte("layer three"))

	raw := manifestFor(t, types.OCIManifestSchema1, cfgDesc, l1, l2, l3)
	m, cd, layers, err := parseManifest(raw)
	if err != nil {
		t.Fatalf("parseManifest: %v", err)
	}
	if cd != digest.FromBytes(cfg) || m.Config.Size != int64(len(cfg)) {
		t.Errorf("config = %s (%d), want %s (%d)", cd, m.Config.Size, digest.FromBytes(cfg), len(cfg))
	}
	want := []Layer{
		{Digest: digest.FromString("layer one"), Size: 9, MediaType: types.OCILayer},
		{Digest: digest.FromString("layer two"), Size: 9, MediaType: types.DockerUncompressedLayer},
		{Digest: digest.FromString("layer three"), Size: 11, MediaType: "application/vnd.docker.image.rootfs.diff.tar.zstd"},
	}
	if fmt.Sprint(layers) != fmt.Sprint(want) {
		t.Errorf("layers = %+v, want %+v", layers, want)
	}

	// Every accepted layer media type.
	for mt := range layerMediaTypes {
		if _, _, _, err := parseManifest(manifestFor(t, "", cfgDesc, descOf(mt, []byte("x")))); err != nil {
			t.Errorf("layer media type %s: %v", mt, err)
		}
	}
	// A config without a media type is accepted; so is the Docker one.
	for _, mt := range []types.MediaType{"", types.DockerConfigJSON} {
		d := cfgDesc
		d.MediaType = mt
		if _, _, _, err := parseManifest(manifestFor(t, "", d)); err != nil {
			t.Errorf("config media type %q: %v", mt, err)
		}
	}

	many := make([]v1.Descriptor, MaxLayers+1)
	for i := range many {
		many[i] = l1
	}
	bad := func(mut func(m *v1.Manifest)) []byte {
		m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfgDesc, Layers: []v1.Descriptor{l1}}
		mut(&m)
		return mustJSON(t, m)
	}
	tests := []struct {
		name    string
		raw     []byte
		kind    errdefs.Kind
		wantErr string
	}{
		{name: "not JSON", raw: []byte("{"), wantErr: "parse manifest"},
		{name: "bad digest syntax", raw: []byte(strings.Replace(string(raw), digest.FromBytes(cfg).Encoded(), "xyz", 1)), wantErr: "parse manifest"},
		{name: "helm chart", raw: bad(func(m *v1.Manifest) { m.Config.MediaType = "application/vnd.cncf.helm.config.v1+json" }), kind: errdefs.KindInvalidArgument, wantErr: "not a container image"},
		{name: "config without digest", raw: []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":1}}`), wantErr: "config: invalid digest"},
		{name: "config with empty digest", raw: bad(func(m *v1.Manifest) { m.Config.Digest = v1.Hash{} }), wantErr: "parse manifest"},
		{name: "config negative size", raw: bad(func(m *v1.Manifest) { m.Config.Size = -5 }), wantErr: "invalid size -5"},
		{name: "config over limit", raw: bad(func(m *v1.Manifest) { m.Config.Size = MaxConfigSize + 1 }), kind: errdefs.KindTooLarge, wantErr: "over the 8388608 byte limit"},
		{name: "config with URLs", raw: bad(func(m *v1.Manifest) { m.Config.URLs = []string{"http://x"} }), wantErr: "foreign layers"},
		{name: "too many layers", raw: bad(func(m *v1.Manifest) { m.Layers = many }), kind: errdefs.KindTooLarge, wantErr: "1001 layers"},
		{name: "layer without digest", raw: []byte(`{"schemaVersion":2,"config":` + string(mustJSON(t, cfgDesc)) + `,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":1}]}`), wantErr: "layer 0: invalid digest"},
		{name: "layer negative size", raw: bad(func(m *v1.Manifest) { m.Layers = append(m.Layers, l2); m.Layers[1].Size = -1 }), wantErr: "layer 1", kind: errdefs.KindUnknown},
		{name: "layer too large", raw: bad(func(m *v1.Manifest) { m.Layers[0].Size = MaxBlobSize + 1 }), wantErr: "invalid size"},
		{name: "foreign layer", raw: bad(func(m *v1.Manifest) { m.Layers[0].URLs = []string{"https://example.com/l"} }), wantErr: "foreign layers with URLs are not supported"},
		{name: "layer media type", raw: bad(func(m *v1.Manifest) { m.Layers[0].MediaType = "application/octet-stream" }), kind: errdefs.KindInvalidArgument, wantErr: `unsupported media type "application/octet-stream"`},
		{name: "layer is a manifest", raw: bad(func(m *v1.Manifest) { m.Layers[0].MediaType = types.OCIManifestSchema1 }), kind: errdefs.KindInvalidArgument, wantErr: "unsupported media type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, cd, layers, err := parseManifest(tc.raw)
			wantErr(t, err, tc.kind, tc.wantErr)
			if cd != "" || layers != nil {
				t.Errorf("returned %q, %v with the error", cd, layers)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	layers := func() []Layer { return []Layer{{Digest: digest.FromString("a")}, {Digest: digest.FromString("b")}} }

	ls := layers()
	cf, err := parseConfig(configFor(t, "linux", runtime.GOARCH, d1, d2), ls)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if ls[0].DiffID != d1 || ls[1].DiffID != d2 {
		t.Errorf("diff IDs = %s, %s; want %s, %s", ls[0].DiffID, ls[1].DiffID, d1, d2)
	}
	if cf.OS != "linux" || len(cf.Config.Cmd) != 1 {
		t.Errorf("config file = %+v", cf)
	}
	if _, err := parseConfig(configFor(t, "linux", runtime.GOARCH), nil); err != nil {
		t.Errorf("no layers: %v", err)
	}

	withRootFS := func(typ string, ids ...string) []byte {
		var hs []string
		for _, id := range ids {
			hs = append(hs, fmt.Sprintf("%q", id))
		}
		return []byte(fmt.Sprintf(`{"os":"linux","architecture":%q,"rootfs":{"type":%q,"diff_ids":[%s]}}`, runtime.GOARCH, typ, strings.Join(hs, ",")))
	}
	tests := []struct {
		name    string
		raw     []byte
		kind    errdefs.Kind
		wantErr string
	}{
		{name: "other OS", raw: configFor(t, "windows", runtime.GOARCH, d1, d2), kind: errdefs.KindInvalidArgument, wantErr: "image is for windows/" + runtime.GOARCH + ", not linux/" + runtime.GOARCH},
		{name: "other arch", raw: configFor(t, "linux", otherArch(), d1, d2), kind: errdefs.KindInvalidArgument, wantErr: "image is for linux/" + otherArch()},
		{name: "no platform", raw: []byte(`{"rootfs":{"type":"layers"}}`), kind: errdefs.KindInvalidArgument, wantErr: "image is for /"},
		{name: "rootfs type", raw: withRootFS("overlay", d1.String(), d2.String()), wantErr: `rootfs type "overlay"`},
		{name: "too few diff_ids", raw: configFor(t, "linux", runtime.GOARCH, d1), wantErr: "config lists 1 diff_ids for 2 layers"},
		{name: "too many diff_ids", raw: configFor(t, "linux", runtime.GOARCH, d1, d2, d1), wantErr: "config lists 3 diff_ids for 2 layers"},
		{name: "bad diff_id", raw: withRootFS("layers", d1.String(), "sha256:1234"), wantErr: "parse config"},
		{name: "sha512 diff_id", raw: withRootFS("layers", d1.String(), digest.SHA512.FromString("x").String()), wantErr: "config diff_id 1: invalid digest"},
		{name: "not JSON", raw: []byte("nope"), wantErr: "parse config"},
		{name: "null", raw: []byte("null"), kind: errdefs.KindInvalidArgument, wantErr: "image is for /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ls := layers()
			cf, err := parseConfig(tc.raw, ls)
			wantErr(t, err, tc.kind, tc.wantErr)
			if cf != nil {
				t.Errorf("config returned with the error")
			}
		})
	}
}

func TestPickPlatform(t *testing.T) {
	mine := []byte(`{"schemaVersion":2}`)
	other := []byte(`{"schemaVersion":2,"other":1}`)
	arch := runtime.GOARCH
	mineDesc := withPlatform(descOf(types.OCIManifestSchema1, mine), "linux", arch)
	tests := []struct {
		name    string
		entries []v1.Descriptor
		want    digest.Digest
		kind    errdefs.Kind
		wantErr string
	}{
		{
			name: "picks this platform",
			entries: []v1.Descriptor{
				withPlatform(descOf(types.OCIManifestSchema1, other), "linux", otherArch()),
				withPlatform(descOf(types.OCIManifestSchema1, other), "windows", arch),
				mineDesc,
			},
			want: digest.FromBytes(mine),
		},
		{
			name: "docker manifest type",
			entries: []v1.Descriptor{
				withPlatform(descOf(types.DockerManifestSchema2, mine), "linux", arch),
			},
			want: digest.FromBytes(mine),
		},
		{
			name:    "first match wins",
			entries: []v1.Descriptor{mineDesc, withPlatform(descOf(types.OCIManifestSchema1, other), "linux", arch)},
			want:    digest.FromBytes(mine),
		},
		{
			name: "skips entries without platform, nested indexes and non-manifests",
			entries: []v1.Descriptor{
				descOf(types.OCIManifestSchema1, other),
				withPlatform(descOf(types.OCIImageIndex, other), "linux", arch),
				withPlatform(descOf("application/vnd.in-toto+json", other), "linux", arch),
				mineDesc,
			},
			want: digest.FromBytes(mine),
		},
		{
			name:    "none for this platform",
			entries: []v1.Descriptor{withPlatform(descOf(types.OCIManifestSchema1, other), "linux", otherArch()), withPlatform(descOf(types.OCIManifestSchema1, other), "windows", arch)},
			kind:    errdefs.KindNotFound,
			wantErr: fmt.Sprintf("no manifest for linux/%s in the index (it has: linux/%s, windows/%s)", arch, otherArch(), arch),
		},
		{name: "empty index", kind: errdefs.KindNotFound, wantErr: "no manifest for linux/"},
		{
			name:    "matching entry over the manifest limit",
			entries: []v1.Descriptor{func() v1.Descriptor { d := mineDesc; d.Size = MaxManifestSize + 1; return d }()},
			kind:    errdefs.KindTooLarge,
			wantErr: "over the 4194304 byte limit",
		},
		{
			name:    "matching entry with URLs",
			entries: []v1.Descriptor{func() v1.Descriptor { d := mineDesc; d.URLs = []string{"https://x"}; return d }()},
			wantErr: "foreign layers",
		},
		{
			name:    "matching entry with a negative size",
			entries: []v1.Descriptor{func() v1.Descriptor { d := mineDesc; d.Size = -1; return d }()},
			wantErr: "invalid size",
		},
		{
			name: "too many entries",
			entries: func() []v1.Descriptor {
				ds := make([]v1.Descriptor, MaxIndexEntries+1)
				for i := range ds {
					ds[i] = mineDesc
				}
				return ds
			}(),
			kind:    errdefs.KindTooLarge,
			wantErr: "index has 1001 entries",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.entries == nil {
				tc.entries = []v1.Descriptor{}
			}
			d, err := pickPlatform(indexFor(t, tc.entries...))
			if tc.wantErr != "" {
				wantErr(t, err, tc.kind, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := digest.Digest(d.Digest.String()); got != tc.want {
				t.Errorf("picked %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := pickPlatform([]byte("{")); err == nil || !strings.Contains(err.Error(), "parse index") {
		t.Errorf("bad JSON: err = %v", err)
	}
}

func TestVerify(t *testing.T) {
	b := []byte("content")
	if err := verify("x", digest.FromBytes(b), b); err != nil {
		t.Errorf("verify sha256: %v", err)
	}
	if err := verify("x", digest.SHA512.FromBytes(b), b); err != nil {
		t.Errorf("verify sha512: %v", err)
	}
	err := verify("manifest m", digest.FromString("other"), b)
	wantErr(t, err, errdefs.KindDigestMismatch, "manifest m", digest.FromBytes(b).String(), digest.FromString("other").String())
}

// image is a consistent set of test blobs: config, manifest and optionally
// an index over it.
type testBlobs struct {
	config, manifest, index []byte
	diffIDs                 []digest.Digest
	layers                  []v1.Descriptor
}

func newTestBlobs(t *testing.T, mt types.MediaType, arch string, withIndex bool) testBlobs {
	t.Helper()
	var b testBlobs
	for i := range 2 {
		content := []byte(fmt.Sprintf("layer %d", i))
		b.diffIDs = append(b.diffIDs, digest.FromString(fmt.Sprintf("diff %d", i)))
		b.layers = append(b.layers, descOf(types.OCILayer, content))
	}
	b.config = configFor(t, "linux", arch, b.diffIDs...)
	cfgType := types.OCIConfigJSON
	if mt == types.DockerManifestSchema2 {
		cfgType = types.DockerConfigJSON
	}
	b.manifest = manifestFor(t, mt, descOf(cfgType, b.config), b.layers...)
	if withIndex {
		b.index = indexFor(t,
			withPlatform(descOf(mt, []byte(`{"schemaVersion":2,"decoy":true}`)), "linux", otherArch()),
			withPlatform(descOf(mt, b.manifest), "linux", arch),
		)
	}
	return b
}

func TestResolve(t *testing.T) {
	t.Run("manifest", func(t *testing.T) {
		b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, false)
		g := newGetter(b.config)
		r, err := resolve("example.com/app:v1", "", b.manifest, "", g.get)
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		if r.Name != "example.com/app:v1" || r.Digest != digest.FromBytes(b.manifest) || r.Index != "" ||
			r.MediaType != types.OCIManifestSchema1 || !bytes.Equal(r.Manifest, b.manifest) {
			t.Errorf("resolved = %+v", r)
		}
		if r.ConfigDigest != digest.FromBytes(b.config) || !bytes.Equal(r.Config, b.config) || r.ConfigMediaType != types.OCIConfigJSON || r.ConfigFile == nil {
			t.Errorf("config = %s %q", r.ConfigDigest, r.Config)
		}
		if len(r.Layers) != 2 {
			t.Fatalf("layers = %+v", r.Layers)
		}
		for i, l := range r.Layers {
			if l.Digest.String() != b.layers[i].Digest.String() || l.Size != b.layers[i].Size || l.DiffID != b.diffIDs[i] {
				t.Errorf("layer %d = %+v", i, l)
			}
		}
		if len(g.calls) != 1 || g.calls[0].limit != MaxConfigSize {
			t.Errorf("getter calls = %+v, want one for the config with limit %d", g.calls, MaxConfigSize)
		}
	})
	t.Run("known digest is kept", func(t *testing.T) {
		b := newTestBlobs(t, types.DockerManifestSchema2, runtime.GOARCH, false)
		known := digest.SHA512.FromBytes(b.manifest)
		r, err := resolve("n", string(types.DockerManifestSchema2), b.manifest, known, newGetter(b.config).get)
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != known || r.MediaType != types.DockerManifestSchema2 {
			t.Errorf("digest %s type %s, want %s", r.Digest, r.MediaType, known)
		}
	})
	t.Run("index", func(t *testing.T) {
		b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, true)
		g := newGetter(b.config, b.manifest)
		r, err := resolve("n", string(types.OCIImageIndex), b.index, "", g.get)
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		if r.Index != digest.FromBytes(b.index) || r.Digest != digest.FromBytes(b.manifest) || !bytes.Equal(r.Manifest, b.manifest) {
			t.Errorf("index %s digest %s", r.Index, r.Digest)
		}
		if len(g.calls) != 2 || g.calls[0].limit != MaxManifestSize || g.calls[1].limit != MaxConfigSize {
			t.Errorf("getter calls = %+v", g.calls)
		}
	})

	tests := []struct {
		name    string
		run     func(t *testing.T) (*Resolved, error)
		kind    errdefs.Kind
		wantErr []string
	}{
		{
			name: "config digest mismatch",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, false)
				g := newGetter()
				g.blobs[digest.FromBytes(b.config)] = bytes.Replace(b.config, []byte("linux"), []byte("Linux"), 1)
				return resolve("n", "", b.manifest, "", g.get)
			},
			kind:    errdefs.KindDigestMismatch,
			wantErr: []string{"config sha256:", "content digest is"},
		},
		{
			name: "manifest from index does not match its digest",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, true)
				g := newGetter(b.config)
				g.blobs[digest.FromBytes(b.manifest)] = append([]byte(" "), b.manifest...)
				g.blobs[digest.FromBytes(b.manifest)] = g.blobs[digest.FromBytes(b.manifest)][:len(b.manifest)]
				return resolve("n", "", b.index, "", g.get)
			},
			kind:    errdefs.KindDigestMismatch,
			wantErr: []string{"manifest sha256:"},
		},
		{
			name: "manifest from index is itself an index",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, false)
				inner := indexFor(t)
				outer := indexFor(t, withPlatform(descOf(types.OCIManifestSchema1, inner), "linux", runtime.GOARCH))
				return resolve("n", "", outer, "", newGetter(b.config, inner).get)
			},
			wantErr: []string{"does not match"},
		},
		{
			name: "missing config",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, false)
				return resolve("n", "", b.manifest, "", newGetter().get)
			},
			kind:    errdefs.KindNotFound,
			wantErr: []string{"read config sha256:"},
		},
		{
			name: "missing manifest",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, true)
				return resolve("n", "", b.index, "", newGetter(b.config).get)
			},
			kind:    errdefs.KindNotFound,
			wantErr: []string{"read manifest sha256:"},
		},
		{
			name: "config longer than its descriptor",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, false)
				var m v1.Manifest
				if err := json.Unmarshal(b.manifest, &m); err != nil {
					t.Fatal(err)
				}
				m.Config.Size = 10
				return resolve("n", "", mustJSON(t, m), "", newGetter(b.config).get)
			},
			kind:    errdefs.KindTooLarge,
			wantErr: []string{"read config"},
		},
		{
			name: "index without this platform",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, otherArch(), true)
				idx := bytes.ReplaceAll(b.index, []byte(`"architecture":"`+runtime.GOARCH+`"`), []byte(`"architecture":"none"`))
				return resolve("n", "", idx, "", newGetter(b.config, b.manifest).get)
			},
			kind:    errdefs.KindNotFound,
			wantErr: []string{"index sha256:", "no manifest for linux/" + runtime.GOARCH},
		},
		{
			name: "config for another architecture",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, otherArch(), false)
				return resolve("n", "", b.manifest, "", newGetter(b.config).get)
			},
			kind:    errdefs.KindInvalidArgument,
			wantErr: []string{"image is for linux/" + otherArch()},
		},
		{
			name: "schema 1",
			run: func(t *testing.T) (*Resolved, error) {
				return resolve("n", string(types.DockerManifestSchema1Signed), []byte(`{"schemaVersion":1,"fsLayers":[]}`), "", newGetter().get)
			},
			kind:    errdefs.KindInvalidArgument,
			wantErr: []string{"schema 1"},
		},
		{
			name: "bad layer in manifest",
			run: func(t *testing.T) (*Resolved, error) {
				b := newTestBlobs(t, types.OCIManifestSchema1, runtime.GOARCH, false)
				raw := bytes.Replace(b.manifest, []byte(types.OCILayer), []byte("text/html"), 1)
				return resolve("n", "", raw, "", newGetter(b.config).get)
			},
			kind:    errdefs.KindInvalidArgument,
			wantErr: []string{"manifest sha256:", `unsupported media type "text/html"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.run(t)
			if r != nil {
				t.Errorf("resolved %+v with the error", r)
			}
			wantErr(t, err, tc.kind, tc.wantErr...)
		})
	}
}
