package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckStatic(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the binaries checked")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	// net makes a cgo build link the C library dynamically.
	if err := os.WriteFile(src, []byte("package main\n\nimport _ \"net\"\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(name, cgo string) string {
		out := filepath.Join(dir, name)
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", out, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("cannot build with CGO_ENABLED=%s: %v\n%s", cgo, err, b)
		}
		return out
	}
	if err := checkStatic(build("static", "0")); err != nil {
		t.Errorf("a static binary was refused: %v", err)
	}
	if err := checkStatic(build("dynamic", "1")); err == nil || !strings.Contains(err.Error(), "dynamically linked (interpreter /") {
		t.Errorf("a dynamic binary: got %v, want a refusal naming its interpreter", err)
	}
	if err := checkStatic(src); err == nil {
		t.Error("a file that is not ELF was accepted")
	}
}
