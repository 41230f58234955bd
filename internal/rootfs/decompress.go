//go:build !rktfront

package rootfs

import (
	"bufio"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow caps the window a zstd frame may ask for (zstd --long=27).
const zstdMaxWindow = 128 << 20

// newDecompressor reads the uncompressed bytes of a gzip or zstd stream;
// release frees the decoder. The front rkt binary (the rktfront build tag)
// renders no layer and links neither decoder: see decompress_front.go.
func newDecompressor(comp compression, br *bufio.Reader) (io.Reader, func(), error) {
	switch comp {
	case compGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case compZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %d", comp)
}
