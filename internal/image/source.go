package image

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
)

// Source is a place an image's blobs are read from.
type Source interface {
	// Resolve reads the manifest for this platform and its config, checked
	// against their digests.
	Resolve(ctx context.Context) (*Resolved, error)
	// OpenBlob opens a blob by digest. The bytes are not checked: the
	// caller hashes them while it stores them. Reads past size fail.
	OpenBlob(ctx context.Context, d digest.Digest, size int64) (io.ReadCloser, error)
	// Close releases the source.
	Close() error
}

// limitedBlob fails a read that goes past the blob's declared size, so a
// hostile source cannot stream forever.
type limitedBlob struct {
	rc    io.ReadCloser
	left  int64
	dgst  digest.Digest
	extra [1]byte
}

func newLimitedBlob(rc io.ReadCloser, d digest.Digest, size int64) io.ReadCloser {
	return &limitedBlob{rc: rc, left: size, dgst: d}
}

func (l *limitedBlob) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Anything past the declared size is an error, not EOF.
		n, err := l.rc.Read(l.extra[:])
		if n > 0 {
			return 0, errBlobTooLong(l.dgst)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if err == io.EOF && l.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (l *limitedBlob) Close() error { return l.rc.Close() }
