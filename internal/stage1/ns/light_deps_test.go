package ns

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLightDeps keeps the CNI packages out of the light stage1 binary
// (the stage1light tag: the run entrypoint, and pod init, of pods without
// CNI networks), which pays for each package it links at every start.
func TestLightDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the light binary's packages with")
	}
	out, err := exec.CommandContext(t.Context(), gobin, "list", "-deps", "-tags", "stage1light", "github.com/rkt/rkt/cmd/stage1-ns").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/rkt/rkt/internal/stage1/podinit") {
		t.Fatalf("go list of the light binary did not list podinit: %q", deps)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/containernetworking/") || d == "github.com/rkt/rkt/internal/stage1/network" {
			t.Errorf("the light stage1 binary links %s", d)
		}
	}
}
