package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestChain runs the built chain on the host's root: the app runs in a new
// PID namespace, and its exit status is the chain's.
func TestChain(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the chain makes namespaces")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	bin := filepath.Join(t.TempDir(), "gochain")
	build := exec.CommandContext(context.Background(), "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"readlink /proc/self/ns/pid", 0},
		{"readlink /proc/self/ns/pid; exit 7", 7},
	} {
		c := exec.CommandContext(context.Background(), bin, "/", "/bin/sh", "-c", tc.script)
		var out bytes.Buffer
		c.Stdout = &out
		err := c.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%q: %v", tc.script, err)
		}
		if code != tc.code {
			t.Errorf("%q: exit status %d, want %d", tc.script, code, tc.code)
		}
		ns := strings.TrimSpace(out.String())
		if !strings.HasPrefix(ns, "pid:[") || ns == self {
			t.Errorf("%q: the app's PID namespace is %q, the test's %q: want a new one", tc.script, ns, self)
		}
	}
	if err := exec.CommandContext(context.Background(), bin, "/", "/nonexistent").Run(); err == nil {
		t.Error("a missing app: the chain exited 0")
	}
}
