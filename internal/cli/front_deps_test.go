package cli

import (
	"slices"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// TestFrontDeps keeps packages that the front rkt binary, which starts
// every pod, does not need and would pay for at every start (their
// package initialisation and a larger binary to map) out of it: net/http
// with its TLS stack cost about 0.5 ms per rkt run (bench/RESULTS.md,
// seventh pass).
func TestFrontDeps(t *testing.T) {
	deps := testutil.Deps(t, "rktfront", "github.com/rkt/rkt/cmd/rkt", "github.com/rkt/rkt/internal/stage0")
	for _, banned := range []string{"net/http", "crypto/tls", "github.com/rkt/rkt/internal/mds"} {
		if slices.Contains(deps, banned) {
			t.Errorf("the front rkt binary links %s", banned)
		}
	}
}
