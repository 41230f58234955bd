package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// Default limits.
const (
	DefaultMaxBytes   int64 = 64 << 30
	DefaultMaxEntries       = 4_000_000
	DefaultMaxRatio   int64 = 1024
	DefaultRatioFloor int64 = 512 << 20
)

const (
	chunkSize = 512 << 10 // bytes handed from the decompressor per chunk
	numChunks = 4
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.RatioFloor <= 0 {
		l.RatioFloor = DefaultRatioFloor
	}
	return l
}

// humanSize formats n bytes for limit errors: "64 GiB", "512 MiB", "100 bytes".
func humanSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// compression names a layer's compression.
type compression int

const (
	compNone compression = iota
	compGzip
	compZstd
)

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// detect returns the compression of a stream that starts with head.
func detect(head []byte) (compression, error) {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return compGzip, nil
	case bytes.HasPrefix(head, magicZstd):
		return compZstd, nil
	case bytes.HasPrefix(head, magicBzip2):
		return 0, errdefs.InvalidArgument(errors.New("layer is bzip2 compressed: only gzip, zstd and plain tar are supported"))
	case bytes.HasPrefix(head, magicXz):
		return 0, errdefs.InvalidArgument(errors.New("layer is xz compressed: only gzip, zstd and plain tar are supported"))
	}
	return compNone, nil
}

// countingReader counts the compressed bytes read and refuses to read more
// than the declared size. The zstd decoder reads from its own goroutine:
// the count is atomic.
type countingReader struct {
	r        io.Reader
	n        atomic.Int64
	declared int64 // -1 if unknown
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	total := c.n.Add(int64(n))
	if c.declared >= 0 && total > c.declared {
		return n, errdefs.TooLarge(fmt.Errorf("layer exceeds its declared size of %d bytes", c.declared))
	}
	return n, err
}

// stream decompresses a layer in its own goroutine, hashes and counts the
// uncompressed bytes there, enforces the limits, and hands chunks to the
// tar reader on the caller's goroutine through Read.
type stream struct {
	ctx  context.Context
	full chan []byte
	free chan []byte
	done chan struct{} // closed by stop: the producer must return
	exit chan struct{} // closed by the producer when it returns

	// Written by the producer before it closes full; read by the consumer
	// only after it saw full closed.
	perr   error
	digest digest.Digest
	size   int64

	// Consumer side.
	buf  []byte // the chunk being read (a slice of cur)
	cur  []byte // the chunk to give back to free
	err  error  // sticky consumer error
	stop func()
}

// newStream starts decompressing r.
func newStream(ctx context.Context, r io.Reader, compressedSize int64, lim Limits) *stream {
	s := &stream{
		ctx:  ctx,
		full: make(chan []byte, numChunks),
		free: make(chan []byte, numChunks),
		done: make(chan struct{}),
		exit: make(chan struct{}),
	}
	for range numChunks {
		s.free <- make([]byte, chunkSize)
	}
	if compressedSize < 0 {
		compressedSize = -1
	}
	cr := &countingReader{r: r, declared: compressedSize}
	go s.produce(cr, lim)
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		close(s.done)
		select {
		case <-s.exit:
		case <-ctx.Done():
			// The producer may be blocked in r.Read; it returns as soon
			// as r does and touches nothing of ours but its own state.
		}
	}
	return s
}

// openDecompressor detects the compression of the stream and returns a
// reader of the uncompressed bytes and a function releasing it.
func openDecompressor(cr *countingReader) (io.Reader, compression, func(), error) {
	br := bufio.NewReaderSize(cr, 64<<10)
	head, err := br.Peek(8)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, nil, fmt.Errorf("read layer: %w", err)
	}
	comp, err := detect(head)
	if err != nil {
		return nil, 0, nil, err
	}
	if comp != compNone {
		zr, release, err := newDecompressor(comp, br)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("read layer: %w", err)
		}
		return zr, comp, release, nil
	}
	return br, comp, func() {}, nil
}

// produce is the decompressing goroutine.
func (s *stream) produce(cr *countingReader, lim Limits) {
	defer close(s.exit)
	defer close(s.full)
	dec, comp, release, err := openDecompressor(cr)
	if err != nil {
		s.perr = err
		return
	}
	defer release()
	h := sha256.New()
	var size int64
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.done:
			s.perr = errStopped
			return
		case <-s.ctx.Done():
			s.perr = s.ctx.Err()
			return
		}
		n, rerr := fill(dec, buf[:cap(buf)])
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			if err := checkLimits(size, cr.n.Load(), comp, lim); err != nil {
				s.perr = err
				return
			}
			select {
			case s.full <- buf[:n]:
			case <-s.done:
				s.perr = errStopped
				return
			case <-s.ctx.Done():
				s.perr = s.ctx.Err()
				return
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				s.digest = digest.NewDigest(digest.SHA256, h)
				s.size = size
				s.perr = io.EOF
				return
			}
			s.perr = decompressError(comp, rerr)
			return
		}
	}
}

var errStopped = errors.New("layer stream stopped")

// fill reads from r until b is full or r fails; unlike io.ReadFull it
// returns r's error unchanged (io.EOF at the end).
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// decompressError wraps an error of the decompressor; limit errors pass
// through as they are.
func decompressError(comp compression, err error) error {
	if errdefs.KindOf(err) != errdefs.KindUnknown {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("truncated: %w", err)
	}
	switch comp {
	case compGzip:
		return fmt.Errorf("read layer: gzip: %w", err)
	case compZstd:
		return fmt.Errorf("read layer: zstd: %w", err)
	}
	return fmt.Errorf("read layer: %w", err)
}

// checkLimits enforces the size and ratio limits after size uncompressed
// bytes were produced from compressed bytes.
func checkLimits(size, compressed int64, comp compression, lim Limits) error {
	if size > lim.MaxBytes {
		return errdefs.TooLarge(fmt.Errorf("layer exceeds %s uncompressed", humanSize(lim.MaxBytes)))
	}
	if comp == compNone || size <= lim.RatioFloor {
		return nil
	}
	c := max(compressed, 1)
	if size/c > lim.MaxRatio {
		return errdefs.TooLarge(fmt.Errorf("layer exceeds the compression ratio limit of %d:1 (%s from %d compressed bytes)",
			lim.MaxRatio, humanSize(size), compressed))
	}
	return nil
}

// Read implements io.Reader for the tar reader.
func (s *stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	for len(s.buf) == 0 {
		if s.cur != nil {
			s.free <- s.cur
			s.cur = nil
		}
		select {
		case b, ok := <-s.full:
			if !ok {
				s.err = s.perr
				return 0, s.err
			}
			s.cur, s.buf = b, b
		case <-s.ctx.Done():
			s.err = s.ctx.Err()
			return 0, s.err
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// failure returns the stream's own error (decompression, limits,
// cancellation) if it has one; it is preferred over what the tar reader
// made of it.
func (s *stream) failure() error {
	if s.err == nil || errors.Is(s.err, io.EOF) {
		return nil
	}
	if errors.Is(s.err, context.Canceled) || errors.Is(s.err, context.DeadlineExceeded) {
		return fmt.Errorf("apply layer: %w", s.err)
	}
	return s.err
}

// drain reads the rest of the stream after the tar end marker, so that the
// DiffID covers it, and returns the stream's digest and size.
func (s *stream) drain() (digest.Digest, int64, error) {
	for s.err == nil {
		s.buf = nil
		if _, err := s.Read(nil); err != nil {
			break
		}
	}
	if !errors.Is(s.err, io.EOF) {
		return "", 0, s.failure()
	}
	return s.digest, s.size, nil
}
