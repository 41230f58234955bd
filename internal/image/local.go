package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// maxArchiveEntries bounds the entries indexed in an archive.
const maxArchiveEntries = 1 << 20

// files is read access to the files of a layout or archive by clean
// relative path.
type files interface {
	open(p string) (io.ReadCloser, int64, error)
	close() error
}

type dirFiles struct{ root string }

func (d dirFiles) open(p string) (io.ReadCloser, int64, error) {
	// O_NONBLOCK so that a FIFO planted in the layout cannot hang the
	// open; it is then refused as not a regular file.
	f, err := os.OpenFile(filepath.Join(d.root, filepath.FromSlash(p)), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file", p)
	}
	return f, st.Size(), nil
}

func (d dirFiles) close() error { return nil }

type tarMember struct{ off, size int64 }

// tarFiles serves the regular files of an uncompressed tar archive from
// their offsets, so blobs are streamed without extracting the archive.
type tarFiles struct {
	f       *os.File
	members map[string]tarMember
}

func openTarFiles(file string) (*tarFiles, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	var magic [2]byte
	if n, _ := f.ReadAt(magic[:], 0); n == 2 && (magic == [2]byte{0x1f, 0x8b} || magic == [2]byte{0x28, 0xb5}) {
		f.Close()
		return nil, errdefs.InvalidArgument(fmt.Errorf("archive %s is compressed: decompress it first", file))
	}
	t := &tarFiles{f: f, members: map[string]tarMember{}}
	tr := tar.NewReader(f)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read archive %s: %w", file, err)
		}
		if n > maxArchiveEntries {
			f.Close()
			return nil, errdefs.TooLarge(fmt.Errorf("archive %s has more than %d entries", file, maxArchiveEntries))
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return nil, err
		}
		t.members[path.Clean(strings.TrimPrefix(h.Name, "/"))] = tarMember{off: off, size: h.Size}
	}
	return t, nil
}

func (t *tarFiles) open(p string) (io.ReadCloser, int64, error) {
	m, ok := t.members[p]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m.off, m.size)), m.size, nil
}

func (t *tarFiles) close() error { return t.f.Close() }

// readFile reads a whole small file.
func readFile(fsys files, p string, limit int64) ([]byte, error) {
	rc, size, err := fsys.open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > limit {
		return nil, errdefs.TooLarge(fmt.Errorf("%s: size %d is over the %d byte limit", p, size, limit))
	}
	return io.ReadAll(io.LimitReader(rc, limit))
}

func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %w", d, err)
	}
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), nil
}

// layoutSource reads an OCI image layout, from a directory or an archive.
type layoutSource struct {
	ref   *Reference
	fsys  files
	blobs map[digest.Digest]string // for docker archives: blob digest -> member
}

// NewLocal opens an oci:, oci-archive: or docker-archive: reference.
func NewLocal(ref *Reference) (Source, error) {
	switch ref.Transport {
	case OCILayout:
		st, err := os.Stat(ref.Path)
		if err != nil {
			return nil, errdefs.NotFound(fmt.Errorf("image %q: %w", ref.Input, err))
		}
		if !st.IsDir() {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %q: %s is not a directory", ref.Input, ref.Path))
		}
		return &layoutSource{ref: ref, fsys: dirFiles{root: ref.Path}}, nil
	case OCIArchive, DockerArchive:
		tf, err := openTarFiles(ref.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound(fmt.Errorf("image %q: %w", ref.Input, err))
		}
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", ref.Input, err)
		}
		return &layoutSource{ref: ref, fsys: tf}, nil
	}
	return nil, fmt.Errorf("image %q is not a local image", ref.Input)
}

func (l *layoutSource) Close() error { return l.fsys.close() }

func (l *layoutSource) OpenBlob(_ context.Context, d digest.Digest, size int64) (io.ReadCloser, error) {
	p, ok := l.blobs[d]
	if !ok {
		var err error
		if p, err = blobPath(d); err != nil {
			return nil, err
		}
	}
	rc, _, err := l.fsys.open(p)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return newLimitedBlob(rc, d, size), nil
}

func (l *layoutSource) Resolve(ctx context.Context) (*Resolved, error) {
	var r *Resolved
	var err error
	if l.ref.Transport == DockerArchive {
		r, err = l.resolveDockerArchive()
	} else {
		r, err = l.resolveLayout()
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", l.ref.Input, err)
	}
	return r, nil
}

const refNameAnnotation = "org.opencontainers.image.ref.name"

func (l *layoutSource) getter(d v1.Descriptor, limit int64) ([]byte, error) {
	p, err := blobPath(digest.Digest(d.Digest.String()))
	if err != nil {
		return nil, err
	}
	return readFile(l.fsys, p, min(limit, d.Size))
}

func (l *layoutSource) resolveLayout() (*Resolved, error) {
	if raw, err := readFile(l.fsys, "oci-layout", 4096); err == nil {
		var lay struct {
			Version string `json:"imageLayoutVersion"`
		}
		if err := json.Unmarshal(raw, &lay); err != nil || lay.Version == "" {
			return nil, errors.New("oci-layout: not an OCI image layout")
		}
	} else {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	raw, err := readFile(l.fsys, "index.json", MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("read index.json: %w", err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse index.json: %w", err)
	}
	var pick *v1.Descriptor
	var refs []string
	for i := range idx.Manifests {
		d := &idx.Manifests[i]
		rn := d.Annotations[refNameAnnotation]
		refs = append(refs, rn)
		if l.ref.Ref != "" && rn == l.ref.Ref {
			pick = d
		}
	}
	if l.ref.Ref == "" && len(idx.Manifests) == 1 {
		pick = &idx.Manifests[0]
	}
	if pick == nil {
		if l.ref.Ref == "" {
			return nil, errdefs.InvalidArgument(fmt.Errorf("layout holds %d images: name one with :REF (refs: %s)", len(idx.Manifests), strings.Join(refs, ", ")))
		}
		return nil, errdefs.NotFound(fmt.Errorf("no image with ref %q in the layout", l.ref.Ref))
	}
	dg, err := checkDescriptor("manifest", *pick)
	if err != nil {
		return nil, err
	}
	mraw, err := l.getter(*pick, MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", dg, err)
	}
	if err := verify("manifest "+dg.String(), dg, mraw); err != nil {
		return nil, err
	}
	return resolve(l.localName(pick.Annotations[refNameAnnotation]), string(pick.MediaType), mraw, dg, l.getter)
}

// localName is the store name of an image from a layout or archive: its
// ref name when that is a full image reference, else localhost/<file>:<ref>.
func (l *layoutSource) localName(refName string) string {
	if strings.Contains(refName, "/") {
		if r, err := name.ParseReference(refName); err == nil && checkDockerRef(r) == nil {
			return r.Name()
		}
	}
	tag := refName
	if tag == "" || !tagRE().MatchString(tag) {
		tag = "latest"
	}
	base := filepath.Base(l.ref.Path)
	for _, ext := range []string{".tar", ".oci"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.ToLower(nonRepoChars().ReplaceAllString(base, "-"))
	base = strings.Trim(base, "-._")
	if base == "" {
		base = "image"
	}
	return "localhost/" + base + ":" + tag
}

type dockerArchiveEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func (l *layoutSource) resolveDockerArchive() (*Resolved, error) {
	raw, err := readFile(l.fsys, "manifest.json", MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("not a docker archive: read manifest.json: %w", err)
	}
	var entries []dockerArchiveEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("parse manifest.json: %w", err)
	}
	var pick *dockerArchiveEntry
	var tags []string
	for i := range entries {
		e := &entries[i]
		tags = append(tags, e.RepoTags...)
		for _, t := range e.RepoTags {
			if l.ref.Ref != "" && (t == l.ref.Ref || strings.HasSuffix(t, ":"+l.ref.Ref)) {
				pick = e
			}
		}
	}
	if l.ref.Ref == "" && len(entries) == 1 {
		pick = &entries[0]
	}
	if pick == nil {
		if l.ref.Ref == "" {
			return nil, errdefs.InvalidArgument(fmt.Errorf("archive holds %d images: name one with :TAG (tags: %s)", len(entries), strings.Join(tags, ", ")))
		}
		return nil, errdefs.NotFound(fmt.Errorf("no image tagged %q in the archive", l.ref.Ref))
	}
	cfgPath := path.Clean(pick.Config)
	cfg, err := readFile(l.fsys, cfgPath, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", pick.Config, err)
	}
	cfgDigest := digest.FromBytes(cfg)
	if len(pick.Layers) > MaxLayers {
		return nil, errdefs.TooLarge(fmt.Errorf("archive image has %d layers, more than %d", len(pick.Layers), MaxLayers))
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(cfg)), Digest: v1.Hash{Algorithm: "sha256", Hex: cfgDigest.Encoded()}},
	}
	l.blobs = map[digest.Digest]string{cfgDigest: cfgPath}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("parse config %s: %w", pick.Config, err)
	}
	if len(cf.RootFS.DiffIDs) != len(pick.Layers) {
		return nil, fmt.Errorf("config lists %d diff_ids for %d layers", len(cf.RootFS.DiffIDs), len(pick.Layers))
	}
	for i, lp := range pick.Layers {
		lp = path.Clean(lp)
		d, mt, size, err := l.archiveLayer(lp, cf.RootFS.DiffIDs[i].String())
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", lp, err)
		}
		l.blobs[d] = lp
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: size, Digest: v1.Hash{Algorithm: "sha256", Hex: d.Encoded()}})
	}
	mraw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	storeName := ""
	if len(pick.RepoTags) > 0 {
		if r, err := name.ParseReference(pick.RepoTags[0]); err == nil && checkDockerRef(r) == nil {
			storeName = r.Name()
		}
	}
	if storeName == "" {
		storeName = l.localName("")
	}
	return resolve(storeName, string(m.MediaType), mraw, "", func(d v1.Descriptor, limit int64) ([]byte, error) {
		return readFile(l.fsys, l.blobs[digest.Digest(d.Digest.String())], min(limit, d.Size))
	})
}

// archiveLayer finds a docker-archive layer's blob digest and media type.
// An uncompressed layer's digest is its diff ID (checked when it is
// stored); a compressed one is hashed here.
func (l *layoutSource) archiveLayer(p, diffID string) (digest.Digest, types.MediaType, int64, error) {
	rc, size, err := l.fsys.open(p)
	if err != nil {
		return "", "", 0, err
	}
	defer rc.Close()
	var magic [4]byte
	n, _ := io.ReadFull(rc, magic[:])
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return hashRest(rc, magic[:n], types.DockerLayer, size)
	case n == 4 && magic == [4]byte{0x28, 0xb5, 0x2f, 0xfd}:
		return hashRest(rc, magic[:n], "application/vnd.docker.image.rootfs.diff.tar.zstd", size)
	}
	d, err := digest.Parse(diffID)
	if err != nil {
		return "", "", 0, fmt.Errorf("invalid diff_id %q: %w", diffID, err)
	}
	return d, types.DockerUncompressedLayer, size, nil
}

func hashRest(r io.Reader, head []byte, mt types.MediaType, size int64) (digest.Digest, types.MediaType, int64, error) {
	dgr := digest.SHA256.Digester()
	dgr.Hash().Write(head)
	if _, err := io.Copy(dgr.Hash(), r); err != nil {
		return "", "", 0, err
	}
	return dgr.Digest(), mt, size, nil
}
