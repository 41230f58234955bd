package testutil

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// DefaultBombSize is the uncompressed size of the gzip bomb's file: 1 GiB.
const DefaultBombSize = 1 << 30

// HostileOptions configures HostileLayers.
type HostileOptions struct {
	// EscapeDir is the absolute host directory that the escapes aim at: a
	// vulnerable extractor writes, links or deletes there. Default: a new
	// t.TempDir(). HostileLayers creates the victim files in it.
	EscapeDir string
	// BombSize is the uncompressed size of the file in the gzip bomb
	// (default DefaultBombSize). The compressed layer is about 1/1000 of it.
	BombSize int64
}

// HostileLayer is a named attack: one or more layers to apply in order, and
// checks that a safe extractor passes.
type HostileLayer struct {
	// Name is short and stable ("dotdot", "gzip-bomb"), fit for a subtest.
	Name string
	// Description says what the layer does and what a safe extractor does.
	Description string
	// Layers are applied in order, lowest first.
	Layers []v1.Layer
	// CheckHost, when set, returns an error if the host outside the rootfs
	// was changed (a file written in EscapeDir, a victim deleted or
	// modified, a hard link made to a host file). Call it after extraction
	// and before the rootfs is removed.
	CheckHost func() error
	// CheckRootfs, when set, returns an error if the extracted rootfs holds
	// what it must not (a device node outside /dev).
	CheckRootfs func(rootfs string) error
	// WantError says that extraction (or fetch) must fail rather than
	// sanitize: the layer cannot be read as a whole (bomb, truncated).
	WantError bool
}

// Image returns an OCI image made of the attack's layers only.
func (h HostileLayer) Image(t testing.TB) v1.Image {
	t.Helper()
	return Image(t, v1.Config{Cmd: []string{"/bin/true"}}, h.Layers...)
}

// HostileLayers returns layers that attack an extractor: absolute paths, ..
// escapes, symlinked parents (to /, to the escape dir, relative, across
// layers), hard links out, whiteouts through symlinks, device nodes outside
// /dev, a gzip bomb and a truncated gzip stream. All are gzip layers with
// the OCI media type.
func HostileLayers(t testing.TB, opts HostileOptions) []HostileLayer {
	t.Helper()
	esc := opts.EscapeDir
	if esc == "" {
		esc = t.TempDir()
	}
	if !filepath.IsAbs(esc) || filepath.Clean(esc) == "/" {
		t.Fatalf("testutil: HostileOptions.EscapeDir %q: want an absolute directory other than /", esc)
	}
	esc = filepath.Clean(esc)
	bombSize := opts.BombSize
	if bombSize <= 0 {
		bombSize = DefaultBombSize
	}
	rel := strings.TrimPrefix(esc, "/")
	up := strings.Repeat("../", 40)
	at := func(name string) string { return filepath.Join(esc, name) }

	// Victims that the escapes would modify or delete.
	writeVictim := func(p, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("testutil: hostile victim: %v", err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatalf("testutil: hostile victim: %v", err)
		}
	}
	const original = "original\n"
	writeVictim(at("hardlink-target"), original)
	writeVictim(at("whiteout-victim"), original)
	writeVictim(at("whiteout-dotdot-victim"), original)
	writeVictim(at("opaque-victim/file"), original)

	gz := func(entries ...TarEntry) v1.Layer {
		t.Helper()
		return Layer(t, entries, Gzip)
	}
	absent := func(names ...string) func() error {
		return func() error {
			for _, n := range names {
				_, err := os.Lstat(at(n))
				switch {
				case err == nil:
					return fmt.Errorf("escape: %s exists on the host", at(n))
				case !errors.Is(err, fs.ErrNotExist):
					return fmt.Errorf("escape: lstat %s: %w", at(n), err)
				}
			}
			return nil
		}
	}
	unchanged := func(names ...string) func() error {
		return func() error {
			for _, n := range names {
				p := at(n)
				var st unix.Stat_t
				if err := unix.Lstat(p, &st); err != nil {
					return fmt.Errorf("escape: victim %s: %w", p, err)
				}
				if st.Mode&unix.S_IFMT != unix.S_IFREG {
					return fmt.Errorf("escape: victim %s is no longer a regular file (mode %#o)", p, st.Mode)
				}
				if st.Nlink != 1 {
					return fmt.Errorf("escape: victim %s has %d links: a hard link to it was made", p, st.Nlink)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return fmt.Errorf("escape: victim %s: %w", p, err)
				}
				if string(b) != original {
					return fmt.Errorf("escape: victim %s was modified: %q", p, b)
				}
			}
			return nil
		}
	}
	pwned := "pwned\n"

	return []HostileLayer{
		{
			Name:        "absolute-path",
			Description: "a file entry with an absolute name; must land inside the rootfs or be refused",
			Layers:      []v1.Layer{gz(File(at("absolute"), 0o644, pwned))},
			CheckHost:   absent("absolute"),
		},
		{
			Name:        "dotdot",
			Description: "a file entry whose name climbs out with ../",
			Layers:      []v1.Layer{gz(File(up+rel+"/dotdot", 0o644, pwned))},
			CheckHost:   absent("dotdot"),
		},
		{
			Name:        "dotdot-in-dir",
			Description: "a file entry etc/../../..: a .. escape that starts inside a directory",
			Layers:      []v1.Layer{gz(Dir("etc/", 0o755), File("etc/"+up+rel+"/dotdot-in-dir", 0o644, pwned))},
			CheckHost:   absent("dotdot-in-dir"),
		},
		{
			Name:        "symlink-parent-root",
			Description: "a symlink rootlink -> / then a file written through rootlink/",
			Layers:      []v1.Layer{gz(Symlink("rootlink", "/"), File("rootlink/"+rel+"/symlink-root", 0o644, pwned))},
			CheckHost:   absent("symlink-root"),
		},
		{
			Name:        "symlink-parent-absolute",
			Description: "a symlink escdir -> EscapeDir (absolute) then a file written through it",
			Layers:      []v1.Layer{gz(Symlink("escdir", esc), File("escdir/symlink-abs", 0o644, pwned))},
			CheckHost:   absent("symlink-abs"),
		},
		{
			Name:        "symlink-parent-relative",
			Description: "a symlink up -> ../../..EscapeDir (relative) then a file written through it",
			Layers:      []v1.Layer{gz(Symlink("up", up+rel), File("up/symlink-rel", 0o644, pwned))},
			CheckHost:   absent("symlink-rel"),
		},
		{
			Name:        "symlink-parent-across-layers",
			Description: "layer 1: lib64 -> EscapeDir; layer 2: a file lib64/across-layers written through it",
			Layers: []v1.Layer{
				gz(Symlink("lib64", esc)),
				gz(File("lib64/across-layers", 0o644, pwned)),
			},
			CheckHost: absent("across-layers"),
		},
		{
			Name:        "hardlink-out-absolute",
			Description: "a hard link to the absolute host path EscapeDir/hardlink-target, then a write to the link",
			Layers:      []v1.Layer{gz(Hardlink("hl", at("hardlink-target")), File("hl", 0o644, pwned))},
			CheckHost:   unchanged("hardlink-target"),
		},
		{
			Name:        "hardlink-out-dotdot",
			Description: "a hard link to ../../..EscapeDir/hardlink-target, then a write to the link",
			Layers:      []v1.Layer{gz(Hardlink("hl", up+rel+"/hardlink-target"), File("hl", 0o644, pwned))},
			CheckHost:   unchanged("hardlink-target"),
		},
		{
			Name:        "hardlink-through-symlink",
			Description: "a symlink escdir -> EscapeDir, a hard link to escdir/hardlink-target, then a write to the link",
			Layers:      []v1.Layer{gz(Symlink("escdir", esc), Hardlink("hl", "escdir/hardlink-target"), File("hl", 0o644, pwned))},
			CheckHost:   unchanged("hardlink-target"),
		},
		{
			Name:        "whiteout-through-symlink",
			Description: "layer 1: victim -> EscapeDir; layer 2: victim/.wh.whiteout-victim deletes a host file through the symlink",
			Layers: []v1.Layer{
				gz(Symlink("victim", esc)),
				gz(Whiteout("victim/whiteout-victim")),
			},
			CheckHost: unchanged("whiteout-victim"),
		},
		{
			Name:        "opaque-whiteout-through-symlink",
			Description: "layer 1: odir -> EscapeDir/opaque-victim; layer 2: odir/.wh..wh..opq empties a host directory",
			Layers: []v1.Layer{
				gz(Symlink("odir", at("opaque-victim"))),
				gz(OpaqueWhiteout("odir")),
			},
			CheckHost: unchanged("opaque-victim/file"),
		},
		{
			Name:        "whiteout-dotdot",
			Description: "a whiteout whose name climbs out with ../ to delete a host file",
			Layers:      []v1.Layer{gz(Whiteout(up + rel + "/whiteout-dotdot-victim"))},
			CheckHost:   unchanged("whiteout-dotdot-victim"),
		},
		{
			Name:        "device-node",
			Description: "character device etc/mem (1,1 = /dev/mem) and block device var/sda (8,0) outside /dev; must not become device nodes",
			Layers: []v1.Layer{gz(
				Dir("etc/", 0o755),
				TarEntry{Name: "etc/mem", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 1},
				Dir("var/", 0o755),
				TarEntry{Name: "var/sda", Type: tar.TypeBlock, Mode: 0o666, Devmajor: 8, Devminor: 0},
			)},
			CheckRootfs: func(rootfs string) error {
				for _, p := range []string{"etc/mem", "var/sda"} {
					st, err := os.Lstat(filepath.Join(rootfs, p))
					if err == nil && st.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
						return fmt.Errorf("rootfs has device node %s (%v)", p, st.Mode())
					}
				}
				return nil
			},
		},
		{
			Name: "gzip-bomb",
			Description: fmt.Sprintf("a gzip layer of about %d KiB that decompresses to a %d-byte file of zeros; must be stopped by a size limit",
				bombSize/1032/1024, bombSize),
			Layers:    []v1.Layer{NewGzipBomb(bombSize)},
			WantError: true,
		},
		{
			Name:        "truncated-gzip",
			Description: "a gzip stream cut in half (its digest matches the cut bytes); decompression must fail and nothing be committed",
			Layers:      []v1.Layer{truncatedGzipLayer(t)},
			WantError:   true,
		},
	}
}

// truncatedGzipLayer returns the first half of a gzip layer holding 256 KiB
// of incompressible data. Its diff ID is that of the whole tar.
func truncatedGzipLayer(t testing.TB) v1.Layer {
	t.Helper()
	// Deterministic, incompressible bytes: SHA-256 in counter mode.
	body := make([]byte, 0, 256<<10)
	var ctr [8]byte
	for len(body) < cap(body) {
		sum := sha256.Sum256(ctr[:])
		body = append(body, sum[:]...)
		binary.LittleEndian.PutUint64(ctr[:], binary.LittleEndian.Uint64(ctr[:])+1)
	}
	data := TarBytes(t, []TarEntry{File("random.bin", 0o644, string(body))})
	gz, err := gzipBytes(data)
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	return NewRawLayer(gz[:len(gz)/2], data, types.OCILayer)
}

// GzipBomb is a gzip layer (OCI media type) of a tar holding one file,
// "bomb", of Size zero bytes. It is generated on the fly from a small
// repeated deflate block, so neither side is ever held in memory; its digest
// and diff ID are computed on first use (hashing the whole uncompressed
// stream: about a second per GiB).
type GzipBomb struct {
	size int64

	once      sync.Once
	err       error
	header    []byte // the tar header block, uncompressed
	head      []byte // gzip header + deflated tar header (sync-flushed)
	block     []byte // deflate of blockSize zeros (sync-flushed)
	blocks    int64
	tail      []byte // deflate of the remaining zeros, final block, gzip trailer
	zeros     int64  // zeros after the tar header, tar padding and EOF included
	digest    v1.Hash
	diffID    v1.Hash
	compSize  int64
	blockSize int
}

var _ v1.Layer = (*GzipBomb)(nil)

// NewGzipBomb returns a GzipBomb whose file has size bytes.
func NewGzipBomb(size int64) *GzipBomb { return &GzipBomb{size: size, blockSize: 1 << 20} }

func deflateSyncFlushed(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	if _, err := fw.Write(data); err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	// A sync flush ends on a byte boundary with a non-final block, so pieces
	// from independent writers concatenate into one valid deflate stream.
	if err := fw.Flush(); err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	return buf.Bytes(), nil
}

func (b *GzipBomb) init() error {
	b.once.Do(func() { b.err = b.build() })
	return b.err
}

func (b *GzipBomb) build() error {
	var hb bytes.Buffer
	tw := tar.NewWriter(&hb)
	if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: b.size, ModTime: DefaultModTime, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("gzip bomb header: %w", err)
	}
	// The header is flushed by WriteHeader; the zeros, the padding to 512
	// and the 1024-byte end-of-archive marker are all zeros too.
	b.header = bytes.Clone(hb.Bytes())
	pad := (512 - b.size%512) % 512
	b.zeros = b.size + pad + 1024

	deflHeader, err := deflateSyncFlushed(b.header)
	if err != nil {
		return err
	}
	zeroBlock := make([]byte, b.blockSize)
	if b.block, err = deflateSyncFlushed(zeroBlock); err != nil {
		return err
	}
	b.blocks = b.zeros / int64(b.blockSize)
	rest := int(b.zeros % int64(b.blockSize))
	var deflRest []byte
	if rest > 0 {
		if deflRest, err = deflateSyncFlushed(zeroBlock[:rest]); err != nil {
			return err
		}
	}

	crc := crc32.ChecksumIEEE(b.header)
	for range b.blocks {
		crc = crc32.Update(crc, crc32.IEEETable, zeroBlock)
	}
	crc = crc32.Update(crc, crc32.IEEETable, zeroBlock[:rest])
	total := int64(len(b.header)) + b.zeros

	// gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
	b.head = append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, deflHeader...)
	b.tail = append(deflRest, 0x03, 0x00) // final, empty, fixed-Huffman block
	b.tail = binary.LittleEndian.AppendUint32(b.tail, crc)
	b.tail = binary.LittleEndian.AppendUint32(b.tail, uint32(total&0xffffffff)) // ISIZE is the length mod 2^32
	b.compSize = int64(len(b.head)) + b.blocks*int64(len(b.block)) + int64(len(b.tail))

	h := sha256.New()
	if _, err := io.Copy(h, b.compressed()); err != nil {
		return fmt.Errorf("gzip bomb digest: %w", err)
	}
	b.digest = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
	h.Reset()
	if _, err := io.Copy(h, b.uncompressed()); err != nil {
		return fmt.Errorf("gzip bomb diff ID: %w", err)
	}
	b.diffID = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
	return nil
}

func (b *GzipBomb) compressed() io.Reader {
	return io.MultiReader(bytes.NewReader(b.head), &repeatReader{block: b.block, n: b.blocks}, bytes.NewReader(b.tail))
}

func (b *GzipBomb) uncompressed() io.Reader {
	return io.MultiReader(bytes.NewReader(b.header), io.LimitReader(zeroReader{}, b.zeros))
}

// UncompressedSize returns the length of the tar inside the bomb.
func (b *GzipBomb) UncompressedSize() (int64, error) {
	if err := b.init(); err != nil {
		return 0, err
	}
	return int64(len(b.header)) + b.zeros, nil
}

// FileSize returns the size of the file "bomb" inside the tar.
func (b *GzipBomb) FileSize() int64 { return b.size }

// Digest returns the SHA-256 of the gzip stream.
func (b *GzipBomb) Digest() (v1.Hash, error) {
	if err := b.init(); err != nil {
		return v1.Hash{}, err
	}
	return b.digest, nil
}

// DiffID returns the SHA-256 of the tar.
func (b *GzipBomb) DiffID() (v1.Hash, error) {
	if err := b.init(); err != nil {
		return v1.Hash{}, err
	}
	return b.diffID, nil
}

// Compressed streams the gzip bomb.
func (b *GzipBomb) Compressed() (io.ReadCloser, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	return io.NopCloser(b.compressed()), nil
}

// Uncompressed streams the tar (header, then zeros).
func (b *GzipBomb) Uncompressed() (io.ReadCloser, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	return io.NopCloser(b.uncompressed()), nil
}

// Size returns the length of the gzip stream.
func (b *GzipBomb) Size() (int64, error) {
	if err := b.init(); err != nil {
		return 0, err
	}
	return b.compSize, nil
}

// MediaType returns the OCI gzip layer media type.
func (b *GzipBomb) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// repeatReader yields block n times.
type repeatReader struct {
	block []byte
	n     int64
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.block[r.off:])
	r.off += c
	if r.off == len(r.block) {
		r.off = 0
		r.n--
	}
	return c, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
