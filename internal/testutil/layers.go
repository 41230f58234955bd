package testutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Compression names accepted by Layer.
const (
	Gzip = "gzip"
	Zstd = "zstd"
	None = "none"
)

// DefaultModTime is the modification time of tar entries that set none, so
// that layers are reproducible.
var DefaultModTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Whiteout prefixes of the OCI image spec.
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
)

// TarEntry describes one tar header and its body. Zero fields get sensible
// defaults: Type tar.TypeReg, Mode 0644 (0755 for directories, 0777 for
// symlinks), ModTime DefaultModTime.
type TarEntry struct {
	Name     string
	Type     byte // tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, ...
	Mode     int64
	Uid, Gid int
	// Uname and Gname are optional owner names.
	Uname, Gname string
	// Body is the content of a regular file.
	Body []byte
	// Linkname is the target of a symlink or hardlink.
	Linkname           string
	Devmajor, Devminor int64
	// Xattrs are written as PAX "SCHILY.xattr." records.
	Xattrs map[string]string
	// PAXRecords are written as they are.
	PAXRecords map[string]string
	ModTime    time.Time
}

// File returns a regular file entry.
func File(name string, mode int64, body string) TarEntry {
	return TarEntry{Name: name, Type: tar.TypeReg, Mode: mode, Body: []byte(body)}
}

// Dir returns a directory entry.
func Dir(name string, mode int64) TarEntry {
	return TarEntry{Name: name, Type: tar.TypeDir, Mode: mode}
}

// Symlink returns a symbolic link entry name -> target.
func Symlink(name, target string) TarEntry {
	return TarEntry{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink returns a hard link entry name -> target (a path in the archive).
func Hardlink(name, target string) TarEntry {
	return TarEntry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout returns the OCI whiteout entry that deletes p from lower layers.
func Whiteout(p string) TarEntry {
	dir, base := path.Split(p)
	return TarEntry{Name: dir + WhiteoutPrefix + base, Type: tar.TypeReg, Mode: 0o644}
}

// OpaqueWhiteout returns the OCI opaque whiteout entry that hides the lower
// layers' contents of dir.
func OpaqueWhiteout(dir string) TarEntry {
	return TarEntry{Name: strings.TrimSuffix(dir, "/") + "/" + WhiteoutOpaque, Type: tar.TypeReg, Mode: 0o644}
}

func (e TarEntry) header() *tar.Header {
	h := &tar.Header{
		Typeflag: e.Type,
		Name:     e.Name,
		Linkname: e.Linkname,
		Mode:     e.Mode,
		Uid:      e.Uid,
		Gid:      e.Gid,
		Uname:    e.Uname,
		Gname:    e.Gname,
		ModTime:  e.ModTime,
		Devmajor: e.Devmajor,
		Devminor: e.Devminor,
	}
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
	}
	if h.Mode == 0 {
		switch h.Typeflag {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeSymlink:
			h.Mode = 0o777
		default:
			h.Mode = 0o644
		}
	}
	if h.ModTime.IsZero() {
		h.ModTime = DefaultModTime
	}
	h.ModTime = h.ModTime.Truncate(time.Second)
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(e.Body))
	}
	if len(e.Xattrs) > 0 || len(e.PAXRecords) > 0 {
		h.PAXRecords = map[string]string{}
		for k, v := range e.Xattrs {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		for k, v := range e.PAXRecords {
			h.PAXRecords[k] = v
		}
		h.Format = tar.FormatPAX
	}
	return h
}

// TarBytes returns an uncompressed tar archive of entries, in order.
func TarBytes(t testing.TB, entries []TarEntry) []byte {
	t.Helper()
	b, err := tarBytes(entries)
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	return b
}

func tarBytes(entries []TarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.header()
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %q: %w", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Body); err != nil {
				return nil, fmt.Errorf("tar body %q: %w", e.Name, err)
			}
		} else if len(e.Body) > 0 {
			return nil, fmt.Errorf("tar entry %q: body on a non-regular entry", e.Name)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Layer returns a layer of entries compressed with compression (Gzip, Zstd
// or None), with the matching OCI media type.
func Layer(t testing.TB, entries []TarEntry, compression string) v1.Layer {
	t.Helper()
	return LayerFromTar(t, TarBytes(t, entries), compression)
}

// LayerFromTar returns a layer whose uncompressed content is tarData (which
// need not be a valid tar), compressed with compression (Gzip, Zstd or
// None), with the matching OCI media type.
func LayerFromTar(t testing.TB, tarData []byte, compression string) v1.Layer {
	t.Helper()
	var (
		compressed []byte
		mt         types.MediaType
		err        error
	)
	switch compression {
	case Gzip, "":
		compressed, err = gzipBytes(tarData)
		mt = types.OCILayer
	case Zstd:
		compressed, err = zstdBytes(tarData)
		mt = types.OCILayerZStd
	case None:
		compressed = tarData
		mt = types.OCIUncompressedLayer
	default:
		t.Fatalf("testutil: unknown compression %q (want gzip, zstd or none)", compression)
	}
	if err != nil {
		t.Fatalf("testutil: compress layer: %v", err)
	}
	return NewRawLayer(compressed, tarData, mt)
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

func zstdBytes(data []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil), nil
}

// RawLayer is a v1.Layer held in memory exactly as given: its digest is the
// SHA-256 of the compressed bytes and its diff ID the SHA-256 of the
// uncompressed bytes, whether or not one is really the other compressed.
// That makes it suitable for broken layers (a truncated gzip stream whose
// digest still matches what the registry serves).
type RawLayer struct {
	compressed, uncompressed []byte
	digest, diffID           v1.Hash
	mediaType                types.MediaType
}

var _ v1.Layer = (*RawLayer)(nil)

// NewRawLayer returns a RawLayer. uncompressed may be nil when unknown; the
// diff ID is then that of compressed.
func NewRawLayer(compressed, uncompressed []byte, mt types.MediaType) *RawLayer {
	if uncompressed == nil {
		uncompressed = compressed
	}
	return &RawLayer{
		compressed:   compressed,
		uncompressed: uncompressed,
		digest:       sha256Hash(compressed),
		diffID:       sha256Hash(uncompressed),
		mediaType:    mt,
	}
}

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
}

// Digest returns the SHA-256 of the compressed bytes.
func (l *RawLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID returns the SHA-256 of the uncompressed bytes.
func (l *RawLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Compressed returns the compressed bytes.
func (l *RawLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

// Uncompressed returns the uncompressed bytes.
func (l *RawLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.uncompressed)), nil
}

// Size returns the length of the compressed bytes.
func (l *RawLayer) Size() (int64, error) { return int64(len(l.compressed)), nil }

// MediaType returns the layer's media type.
func (l *RawLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Bytes returns the compressed bytes (not a copy).
func (l *RawLayer) Bytes() []byte { return l.compressed }

// WithMediaType returns a copy of l with another media type.
func (l *RawLayer) WithMediaType(mt types.MediaType) *RawLayer {
	c := *l
	c.mediaType = mt
	return &c
}
