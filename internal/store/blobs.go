package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// blobRel is the path of a blob relative to the store. d must be valid.
func blobRel(d digest.Digest) []string {
	return []string{"blobs", d.Algorithm().String(), d.Encoded()}
}

func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("digest %q: %w", d, err))
	}
	if d.Algorithm() != digest.SHA256 && d.Algorithm() != digest.SHA512 {
		return errdefs.InvalidArgument(fmt.Errorf("digest %q: unsupported algorithm", d))
	}
	return nil
}

// BlobPath returns the path of blob d (which may not exist).
func (s *Store) BlobPath(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return s.path(blobRel(d)...), nil
}

// HasBlob reports whether blob d is stored.
func (s *Store) HasBlob(d digest.Digest) bool {
	p, err := s.BlobPath(d)
	if err != nil {
		return false
	}
	_, err = os.Lstat(p)
	return err == nil
}

// OpenBlob opens blob d for reading.
func (s *Store) OpenBlob(d digest.Digest) (*os.File, error) {
	p, err := s.BlobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("blob %s is not in the store", d))
	}
	return f, err
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// progressWriter reports the running total of bytes written.
type progressWriter struct {
	n  int64
	fn func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	p.fn(p.n)
	return len(b), nil
}

// PutBlob stores blob d of the given size, read from open, unless the store
// already has it. The bytes are hashed as they stream to a temporary file,
// which is renamed into place only when digest and size match. Concurrent
// calls for the same blob download it once. It reports whether it read the
// blob. progress, if not nil, receives the running byte count.
func (s *Store) PutBlob(ctx context.Context, d digest.Digest, size int64, open func(context.Context) (io.ReadCloser, error), progress func(int64)) (bool, error) {
	if err := checkDigest(d); err != nil {
		return false, err
	}
	if s.HasBlob(d) {
		return false, nil
	}
	unlock, err := s.lockFile("blob-" + d.Algorithm().String() + "-" + d.Encoded())
	if err != nil {
		return false, err
	}
	defer unlock()
	if s.HasBlob(d) {
		return false, nil
	}
	rc, err := open(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if err := s.writeBlob(ctx, d, size, rc, progress); err != nil {
		return false, err
	}
	return true, nil
}

// PutBlobBytes stores a small blob held in memory, checking its digest.
func (s *Store) PutBlobBytes(d digest.Digest, data []byte) error {
	_, err := s.PutBlob(context.Background(), d, int64(len(data)), func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, nil)
	return err
}

func (s *Store) writeBlob(ctx context.Context, d digest.Digest, size int64, r io.Reader, progress func(int64)) error {
	f, err := os.CreateTemp(s.path("tmp"), "blob-*")
	if err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	dg := d.Algorithm().Digester()
	var w io.Writer = io.MultiWriter(f, dg.Hash())
	if progress != nil {
		w = io.MultiWriter(w, &progressWriter{fn: progress})
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(w, ctxReader{ctx: ctx, r: io.LimitReader(r, size+1)}, buf)
	if err != nil {
		return fmt.Errorf("store blob %s: read: %w", d, err)
	}
	if n != size {
		return errdefs.DigestMismatch(fmt.Errorf("store blob %s: got %d bytes, want %d", d, n, size))
	}
	if got := dg.Digest(); got != d {
		return errdefs.DigestMismatch(fmt.Errorf("store blob %s: content digest is %s", d, got))
	}
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	if err := os.Rename(tmp, s.path(blobRel(d)...)); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	committed = true
	return nil
}

// VerifyBlob re-hashes blob d. A blob whose content does not match is
// removed (it can be fetched again) and reported as a DigestMismatch.
func (s *Store) VerifyBlob(d digest.Digest) error {
	f, err := s.OpenBlob(d)
	if err != nil {
		return err
	}
	defer f.Close()
	dg := d.Algorithm().Digester()
	if _, err := io.CopyBuffer(dg.Hash(), f, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("verify blob %s: %w", d, err)
	}
	if got := dg.Digest(); got != d {
		p, _ := s.BlobPath(d)
		os.Remove(p)
		return errdefs.DigestMismatch(fmt.Errorf("blob %s is corrupt (content digest %s): removed", d, got))
	}
	return nil
}

// TempFile creates a file in the store's temporary directory, on the
// store's file system, for a download to be checked before it is stored.
// The caller removes it.
func (s *Store) TempFile(pattern string) (*os.File, error) {
	return os.CreateTemp(s.path("tmp"), pattern)
}
