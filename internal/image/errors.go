package image

import (
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

func errBlobTooLong(d digest.Digest) error {
	return errdefs.TooLarge(fmt.Errorf("blob %s is longer than its declared size", d))
}
