//go:build rktfront

package rootfs

import (
	"bufio"
	"errors"
	"io"
)

// newDecompressor fails in the front rkt binary: it renders no compressed
// layer (whatever needs one runs in rkt-full), and links no decoder, whose
// package initialisation would cost every start.
func newDecompressor(compression, *bufio.Reader) (io.Reader, func(), error) {
	return nil, nil, errors.New("this rkt binary (the front) decompresses no layer")
}
