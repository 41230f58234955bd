package testutil

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Deps lists the packages a build of pkg with tags links (go list -deps),
// checking that want is among them (so that a wrong package or tag fails
// rather than passes). It skips the test without the go command.
func Deps(t *testing.T, tags, pkg, want string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages of " + pkg + " with")
	}
	out, err := exec.CommandContext(t.Context(), gobin, "list", "-deps", "-tags", tags, pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps -tags %s %s: %v", tags, pkg, err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, want) {
		t.Fatalf("go list -deps -tags %s %s did not list %s: %q", tags, pkg, want, deps)
	}
	return deps
}
