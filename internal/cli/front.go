//go:build rktfront

package cli

import (
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/store"
)

// frontBuild is true in the front rkt (the rktfront build tag): the
// binary installed as rkt, which runs pods of stored images and manages
// pods itself, and hands every other command to rkt-full (handover.go).
const frontBuild = true

// fullCommands: the front has none of rkt-full's own commands.
func (a *app) fullCommands() []lazyCommand { return nil }

// images are where run and prepare get their images: the store alone.
func (a *app) images(s *store.Store, policy store.PullPolicy) stage0.Images {
	return &stage0.StoredImages{Store: s, Update: policy == store.PullUpdate, Insecure: a.insecure.has("image")}
}
