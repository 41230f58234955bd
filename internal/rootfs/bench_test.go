package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// benchLayerPath is where the benchmark layer is cached between runs; set
// RKT_BENCH_LAYER to choose it (e.g. to time `tar -xzf` on the same file).
func benchLayerPath() string {
	if p := os.Getenv("RKT_BENCH_LAYER"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), "rkt-rootfs-bench-v2.tar.gz")
}

// writeBenchLayer writes a gzip tar of 3,500 files, directories and
// symlinks, about 240 MB uncompressed and 120 MB compressed: mostly small
// files, a few large ones, content half random and half repetitive text.
func writeBenchLayer(w io.Writer) (int64, error) {
	r := rand.New(rand.NewPCG(1, 2))
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: zw}
	tw := tar.NewWriter(cw)
	text := bytes.Repeat([]byte("GNU C Library (Debian GLIBC 2.36) stable release version 2.36.\n"), 1<<12)
	random := make([]byte, 8<<20)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	body := func(size int) []byte {
		b := make([]byte, 0, size)
		for len(b) < size {
			n := min(size-len(b), 1+r.IntN(32<<10))
			if r.IntN(2) == 0 {
				off := r.IntN(len(random) - n)
				b = append(b, random[off:off+n]...)
			} else {
				off := r.IntN(len(text) - n)
				b = append(b, text[off:off+n]...)
			}
		}
		return b
	}
	for d := range 100 {
		dir := fmt.Sprintf("usr/lib/pkg%03d/", d)
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return 0, err
		}
		for f := range 34 {
			size := 512 + r.IntN(40<<10)
			switch {
			case f == 0 && d%4 == 0:
				size = 2<<20 + r.IntN(2<<20)
			case f < 4:
				size = 128<<10 + r.IntN(256<<10)
			}
			h := &tar.Header{Name: fmt.Sprintf("%sfile%02d.so", dir, f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}
			if err := tw.WriteHeader(h); err != nil {
				return 0, err
			}
			if _, err := tw.Write(body(size)); err != nil {
				return 0, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: dir + "link", Typeflag: tar.TypeSymlink, Linkname: "file00.so"}); err != nil {
			return 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// benchLayer returns the benchmark layer, writing it if it is not cached.
func benchLayer(b *testing.B) []byte {
	b.Helper()
	p := benchLayerPath()
	if data, err := os.ReadFile(p); err == nil {
		return data
	}
	var buf bytes.Buffer
	if _, err := writeBenchLayer(&buf); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p+".tmp", buf.Bytes(), 0o644); err == nil {
		_ = os.Rename(p+".tmp", p)
	}
	return buf.Bytes()
}

// BenchmarkApply extracts the benchmark layer; MB/s are of the
// uncompressed tar stream. Compare with `tar -xzf` of the same file
// (RKT_BENCH_LAYER names it; RKT_BENCH_DIR chooses where to extract).
func BenchmarkApply(b *testing.B) {
	layer := benchLayer(b)
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"overlay", Options{Whiteouts: WhiteoutOverlay, Chown: os.Geteuid() == 0}},
		{"apply", Options{Whiteouts: WhiteoutApply, Chown: os.Geteuid() == 0}},
	} {
		b.Run(c.name, func(b *testing.B) {
			base := b.TempDir()
			if d := os.Getenv("RKT_BENCH_DIR"); d != "" {
				// Another file system, e.g. a tmpfs to leave the disk out.
				var err error
				if base, err = os.MkdirTemp(d, "rkt-bench-"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = RemoveAll(base) })
			}
			var size int64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				dir := filepath.Join(base, fmt.Sprint(i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := Apply(context.Background(), dir, bytes.NewReader(layer), int64(len(layer)), c.opts)
				if err != nil {
					b.Fatal(err)
				}
				size = res.Size
				b.StopTimer()
				if err := RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.SetBytes(size)
			b.ReportMetric(float64(len(layer))/1e6, "MB-gz")
		})
	}
}

// BenchmarkDecompress is the decompression and hashing alone: the bound
// BenchmarkApply cannot beat.
func BenchmarkDecompress(b *testing.B) {
	layer := benchLayer(b)
	var size int64
	for b.Loop() {
		s := newStream(context.Background(), bytes.NewReader(layer), -1, Limits{}.withDefaults())
		_, n, err := s.drain()
		s.stop()
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.SetBytes(size)
}
