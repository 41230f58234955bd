//go:build rktfront

package rootfs

import (
	"bufio"
	"errors"
	"io"

	"github.com/rkt/rkt/internal/errdefs"
)

// newDecompressor fails in the front rkt binary: it renders no compressed
// layer (whatever needs one runs in rkt-full), and links no decoder, whose
// package initialisation would cost every start.
func newDecompressor(compression, *bufio.Reader) (io.Reader, func(), error) {
	return nil, nil, errdefs.WithKind(errdefs.KindUnimplemented, errors.New("this rkt binary (the front) decompresses no layer"))
}
