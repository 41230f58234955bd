package main

import (
	"archive/tar"
	"bytes"
	"io"
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
	if err := checkStatic("-binary", build("static", "0")); err != nil {
		t.Errorf("a static binary was refused: %v", err)
	}
	if err := checkStatic("-binary", build("dynamic", "1")); err == nil || !strings.Contains(err.Error(), "dynamically linked (interpreter /") {
		t.Errorf("a dynamic binary: got %v, want a refusal naming its interpreter", err)
	}
	if err := checkStatic("-run-binary", src); err == nil || !strings.HasPrefix(err.Error(), "-run-binary "+src) {
		t.Errorf("a file that is not ELF: got %v, want a refusal naming -run-binary and the file", err)
	}
}

// TestRunBinary: with -run-binary, rootfs/run is that file, pod-init a
// symlink to it, and the other entrypoints symlinks to the flavor binary.
func TestRunBinary(t *testing.T) {
	dir := t.TempDir()
	full, light := filepath.Join(dir, "full"), filepath.Join(dir, "light")
	// Any static ELF does: writeACI only copies them.
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{full, light} {
		if err := os.WriteFile(f, append([]byte(filepath.Base(f)), self[:64]...), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var aci bytes.Buffer
	if err := writeACI(&aci, []byte("{}"), "stage1-ns", full, light, ""); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&aci)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			got[h.Name] = "-> " + h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			got[h.Name] = strings.SplitN(string(b), "\x7fELF", 2)[0]
		}
	}
	for name, want := range map[string]string{
		"rootfs/stage1-ns": "full", "rootfs/run": "light",
		"rootfs/enter": "-> stage1-ns", "rootfs/gc": "-> stage1-ns", "rootfs/stop": "-> stage1-ns",
		"rootfs/pod-init": "-> run",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}
