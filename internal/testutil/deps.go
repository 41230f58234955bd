package testutil

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Deps lists the packages a build of pkg with tags links (go list -deps),
// checking that want is among them (so that a wrong package or tag fails
// rather than passes). It skips the test without the go command. It reads
// the module's sources first (ReadModuleSources): files behind other build
// tags are not in the test binary, and a change to them must rerun the
// test rather than replay a cached pass.
func Deps(t *testing.T, tags, pkg, want string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages of " + pkg + " with")
	}
	ReadModuleSources(t, ModuleRoot(t, gobin))
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

// ModuleRoot returns the directory of the main module's go.mod, as the go
// command goCmd finds it.
func ModuleRoot(t *testing.T, goCmd string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), goCmd, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not inside a module", gomod)
	}
	return filepath.Dir(gomod)
}

// ReadModuleSources reads every Go file, go.mod and go.sum of the module
// in root. A test that runs the go command (go list) learns from a
// subprocess, whose reads the test cache does not see; reading the same
// files here makes `go test` rerun it whenever one of them changes,
// instead of replaying a stale pass.
func ReadModuleSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			// Directories the go command ignores, build output, and the
			// separate tools module.
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "vendor" || path == filepath.Join(root, "bin") ||
				path == filepath.Join(root, "tools")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || path == filepath.Join(root, "go.mod") || path == filepath.Join(root, "go.sum") {
			_, err := os.ReadFile(path) //nolint:gosec // G304/G122: the module's own sources
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read module sources: %v", err)
	}
}
