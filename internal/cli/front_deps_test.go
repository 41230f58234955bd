package cli

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestFrontDeps keeps packages that the front rkt binary, which starts
// every pod, does not need and would pay for at every start (their
// package initialisation and a larger binary to map) out of it: net/http
// with its TLS stack cost about 0.5 ms per rkt run (bench/RESULTS.md,
// seventh pass).
func TestFrontDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the front's packages with")
	}
	out, err := exec.CommandContext(t.Context(), gobin, "list", "-deps", "-tags", "rktfront", "github.com/rkt/rkt/cmd/rkt").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/rkt/rkt/internal/stage0") {
		t.Fatalf("go list of the front did not list stage0: %q", deps)
	}
	for _, banned := range []string{"net/http", "crypto/tls", "github.com/rkt/rkt/internal/mds"} {
		if slices.Contains(deps, banned) {
			t.Errorf("the front rkt binary links %s", banned)
		}
	}
}
