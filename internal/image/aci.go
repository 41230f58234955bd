package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"

	"github.com/appc/spec/schema"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
)

// ACIFile is a local ACI, hashed and its manifest read.
type ACIFile struct {
	Manifest *schema.ImageManifest
	// Digest is the sha512 of the file: rkt's ACI image ID.
	Digest digest.Digest
	Size   int64
	// DiffID is the sha256 of the uncompressed tar.
	DiffID digest.Digest
}

// ReadACIFile reads an ACI from a local file in one pass: it hashes the
// file and its uncompressed tar and reads and validates the manifest
// (appc schema, os and arch labels). ACIs may be plain, gzip or zstd tars.
func ReadACIFile(file string) (*ACIFile, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, errdefs.NotFound(fmt.Errorf("image %s: %w", file, err))
	}
	defer f.Close()
	a, err := ReadACI(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", file, err)
	}
	return a, nil
}

// ReadACI is ReadACIFile of an ACI read from r, to its end: a caller can
// tee r to check what was read (a signature) in the same pass.
func ReadACI(r io.Reader) (*ACIFile, error) {
	return scanACI(r, true)
}

// PeekACIManifest reads an ACI file only as far as its manifest, which it
// validates as ReadACIFile does: what a signature check needs to know
// (whose keys) before the pass that hashes the whole file.
func PeekACIManifest(file string) (*schema.ImageManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, errdefs.NotFound(fmt.Errorf("image %s: %w", file, err))
	}
	defer f.Close()
	m, err := PeekACI(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", file, err)
	}
	return m, nil
}

// PeekACI is PeekACIManifest of an ACI read from r.
func PeekACI(r io.Reader) (*schema.ImageManifest, error) {
	a, err := scanACI(r, false)
	if err != nil {
		return nil, err
	}
	return a.Manifest, nil
}

// scanACI reads an ACI's tar for its manifest; whole, it reads r to its
// end and fills in the digests and size, else it stops at the manifest
// and returns it alone.
func scanACI(r io.Reader, whole bool) (*ACIFile, error) {
	fileHash := sha512.New()
	counted := &countingReader{r: io.TeeReader(r, fileHash)}
	br := &peekReader{r: counted}
	head, _ := br.peek(4)
	var plain io.Reader = br
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		plain = zr
	case bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		plain = zr
	}
	diff := digest.SHA256.Digester()
	tr := tar.NewReader(io.TeeReader(plain, diff.Hash()))
	var raw []byte
	for whole || raw == nil {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		if path.Clean(h.Name) == "manifest" && h.Typeflag == tar.TypeReg {
			if h.Size > aci.MaxManifestSize {
				return nil, errdefs.TooLarge(fmt.Errorf("manifest is larger than %d bytes", aci.MaxManifestSize))
			}
			if raw, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
		}
	}
	if whole {
		// The digests cover everything, trailing bytes included.
		if _, err := io.Copy(io.Discard, plain); err != nil {
			return nil, err
		}
		if _, err := io.Copy(io.Discard, br); err != nil {
			return nil, err
		}
	}
	if raw == nil {
		return nil, errdefs.InvalidArgument(errors.New("not an ACI: no manifest"))
	}
	var m schema.ImageManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image manifest: %w", err))
	}
	if err := checkACIPlatform(&m); err != nil {
		return nil, err
	}
	if !whole {
		return &ACIFile{Manifest: &m}, nil
	}
	return &ACIFile{
		Manifest: &m,
		Digest:   digest.NewDigestFromEncoded(digest.SHA512, fmt.Sprintf("%x", fileHash.Sum(nil))),
		Size:     counted.n,
		DiffID:   diff.Digest(),
	}, nil
}

// checkACIPlatform checks the os and arch labels, as rkt 1.x did.
func checkACIPlatform(m *schema.ImageManifest) error {
	osl, ok := m.Labels.Get("os")
	if !ok {
		return errdefs.InvalidArgument(errors.New("missing os label in the image manifest"))
	}
	if osl != "linux" {
		return errdefs.InvalidArgument(fmt.Errorf("bad os %q", osl))
	}
	arch, ok := m.Labels.Get("arch")
	if !ok {
		return errdefs.InvalidArgument(errors.New("missing arch label in the image manifest"))
	}
	if want := AppcArch(runtime.GOARCH); arch != want {
		return errdefs.InvalidArgument(fmt.Errorf("bad arch %q (this machine is %s)", arch, want))
	}
	return nil
}

// AppcArch is the appc name of a Go architecture (arm64 is aarch64).
func AppcArch(goarch string) string {
	if goarch == "arm64" {
		return "aarch64"
	}
	return goarch
}

// ACIName is "name:version" of an ACI manifest, as rkt lists it.
func ACIName(m *schema.ImageManifest) string {
	n := m.Name.String()
	if v, ok := m.Labels.Get("version"); ok {
		n += ":" + v
	}
	return n
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// peekReader lets the first bytes be looked at and then read again.
type peekReader struct {
	r    io.Reader
	head []byte
}

func (p *peekReader) peek(n int) ([]byte, error) {
	buf := make([]byte, n)
	m, err := io.ReadFull(p.r, buf)
	p.head = buf[:m]
	return p.head, err
}

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}
