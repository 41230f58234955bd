//go:build !rktfront

package cli

import (
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/store"
)

// frontBuild is false in rkt-full, the build with every command: the one
// `go build ./cmd/rkt` makes, and the one the front hands commands to.
const frontBuild = false

// fullCommands are the commands only rkt-full has: they fetch, verify,
// decompress or serve.
func (a *app) fullCommands() []lazyCommand {
	return []lazyCommand{
		{"fetch", a.fetchCommand},
		{"export", a.exportCommand},
		{"image", a.imageCommand},
		{"trust", a.trustCommand},
		{"metadata-service", a.metadataServiceCommand},
	}
}

// images are where run and prepare get their images: the fetcher.
func (a *app) images(s *store.Store, policy store.PullPolicy) stage0.Images {
	return a.fetcher(s, policy)
}
