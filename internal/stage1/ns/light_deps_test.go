package ns

import (
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// TestLightDeps keeps the CNI packages out of the light stage1 binary
// (the stage1light tag: the run entrypoint, and pod init, of pods without
// CNI networks), which pays for each package it links at every start.
func TestLightDeps(t *testing.T) {
	for _, d := range testutil.Deps(t, "stage1light", "github.com/rkt/rkt/cmd/stage1-ns", "github.com/rkt/rkt/internal/stage1/podinit") {
		if strings.HasPrefix(d, "github.com/containernetworking/") || d == "github.com/rkt/rkt/internal/stage1/network" {
			t.Errorf("the light stage1 binary links %s", d)
		}
	}
}
