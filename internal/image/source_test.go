package image

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// eofWithData returns its data and io.EOF in the same call, as some
// readers do.
type eofWithData struct{ data []byte }

func (r *eofWithData) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// infinite is an endless stream of 'x', counting what was read from it.
type infinite struct{ read int64 }

func (r *infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.read += int64(len(p))
	return len(p), nil
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestLimitedBlob(t *testing.T) {
	d := digest.FromString("blob")
	data := []byte("0123456789")
	tests := []struct {
		name    string
		r       func() io.Reader
		size    int64
		want    string
		kind    errdefs.Kind
		wantErr error // for errors without a kind
	}{
		{name: "exact", r: func() io.Reader { return bytes.NewReader(data) }, size: 10, want: "0123456789"},
		{name: "exact, one byte at a time", r: func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }, size: 10, want: "0123456789"},
		{name: "exact, EOF with data", r: func() io.Reader { return &eofWithData{data: data} }, size: 10, want: "0123456789"},
		{name: "exact, half reads", r: func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, size: 10, want: "0123456789"},
		{name: "empty", r: func() io.Reader { return bytes.NewReader(nil) }, size: 0, want: ""},
		{name: "one byte too long", r: func() io.Reader { return bytes.NewReader(data) }, size: 9, want: "012345678", kind: errdefs.KindTooLarge},
		{name: "too long, EOF with data", r: func() io.Reader { return &eofWithData{data: data} }, size: 5, want: "01234", kind: errdefs.KindTooLarge},
		{name: "data for a zero size", r: func() io.Reader { return bytes.NewReader(data) }, size: 0, want: "", kind: errdefs.KindTooLarge},
		{name: "data for a negative size", r: func() io.Reader { return bytes.NewReader(data) }, size: -1, want: "", kind: errdefs.KindTooLarge},
		{name: "short", r: func() io.Reader { return bytes.NewReader(data) }, size: 11, want: "0123456789", wantErr: io.ErrUnexpectedEOF},
		{name: "short, EOF with data", r: func() io.Reader { return &eofWithData{data: data} }, size: 20, want: "0123456789", wantErr: io.ErrUnexpectedEOF},
		{name: "empty for a size", r: func() io.Reader { return bytes.NewReader(nil) }, size: 1, want: "", wantErr: io.ErrUnexpectedEOF},
		{name: "source error", r: func() io.Reader { return iotest.ErrReader(errors.New("boom")) }, size: 3, want: "", wantErr: errors.New("boom")},
		{name: "source error after the end", r: func() io.Reader { return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errors.New("late"))) }, size: 10, want: "0123456789", wantErr: errors.New("late")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &closeRecorder{Reader: tc.r()}
			rc := newLimitedBlob(cr, d, tc.size)
			got, err := io.ReadAll(rc)
			if string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			switch {
			case tc.kind != errdefs.KindUnknown:
				wantErr(t, err, tc.kind, "blob "+d.String()+" is longer than its declared size")
			case tc.wantErr != nil:
				if err == nil || err.Error() != tc.wantErr.Error() {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
			if err := rc.Close(); err != nil || !cr.closed {
				t.Errorf("Close = %v, closed %v", err, cr.closed)
			}
		})
	}
}

// TestLimitedBlobEndless checks that an endless source is cut at the
// declared size, with at most one byte read past it.
func TestLimitedBlobEndless(t *testing.T) {
	src := &infinite{}
	rc := newLimitedBlob(io.NopCloser(src), digest.FromString("x"), 1000)
	n, err := io.Copy(io.Discard, rc)
	if n != 1000 {
		t.Errorf("copied %d bytes, want 1000", n)
	}
	wantErr(t, err, errdefs.KindTooLarge, "longer than its declared size")
	if src.read > 1001 {
		t.Errorf("read %d bytes from the source for a 1000 byte blob", src.read)
	}
	// It keeps failing.
	if _, err := rc.Read(make([]byte, 10)); !errdefs.Is(err, errdefs.KindTooLarge) {
		t.Errorf("second read after the end: %v", err)
	}
}

// TestLimitedBlobNeverOverfills checks that a big buffer never receives
// more than the declared size.
func TestLimitedBlobNeverOverfills(t *testing.T) {
	rc := newLimitedBlob(io.NopCloser(strings.NewReader(strings.Repeat("y", 100))), digest.FromString("y"), 7)
	buf := make([]byte, 64)
	n, err := rc.Read(buf)
	if n != 7 || err != nil {
		t.Fatalf("first read = %d, %v; want 7, nil", n, err)
	}
	if bytes.ContainsRune(buf[7:], 'y') {
		t.Errorf("bytes past the declared size were written into the buffer")
	}
	n, err = rc.Read(buf)
	if n != 0 || !errdefs.Is(err, errdefs.KindTooLarge) {
		t.Errorf("second read = %d, %v; want 0 and a too-large error", n, err)
	}
}
