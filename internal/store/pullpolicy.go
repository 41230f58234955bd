package store

import (
	"fmt"

	"github.com/rkt/rkt/internal/errdefs"
)

// PullPolicy says when to reach the image's origin.
type PullPolicy string

// The pull policies of rkt 1.x.
const (
	// PullNew uses the stored image and fetches only when it is missing.
	PullNew PullPolicy = "new"
	// PullUpdate asks the origin and fetches what changed.
	PullUpdate PullPolicy = "update"
	// PullNever uses the store only.
	PullNever PullPolicy = "never"
)

// ParsePullPolicy validates a --pull-policy value.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(s); p {
	case PullNew, PullUpdate, PullNever:
		return p, nil
	}
	return "", errdefs.InvalidArgument(fmt.Errorf("invalid pull policy %q (want new, update or never)", s))
}
