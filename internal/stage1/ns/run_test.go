package ns_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/stage1/abi"
)

func TestRunExitCodes(t *testing.T) {
	for _, code := range []string{"0", "1", "7"} {
		pod := makePod(t, []testApp{shApp("app", "echo hello; exit "+code)}, nil)
		r := runPod(t, pod)
		if want := code; r.code != atoi(want) {
			t.Fatalf("exit %s: got %d, stderr %q", code, r.code, r.stderr)
		}
		if r.stdout != "hello\n" {
			t.Errorf("stdout %q", r.stdout)
		}
		if got := readFile(t, filepath.Join(pod, abi.StatusDir, "app")); got != code {
			t.Errorf("status file %q, want %q", got, code)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestRunMultiAppFirstFailure(t *testing.T) {
	pod := makePod(t, []testApp{
		shApp("a", "sleep 0.2; exit 0"),
		shApp("b", "sleep 0.5; exit 5"),
		shApp("c", "exec sleep 1000"),
	}, nil)
	r := runPod(t, pod)
	if r.code != 5 {
		t.Fatalf("exit %d, want 5; stderr %q", r.code, r.stderr)
	}
	for app, want := range map[string]string{"a": "0", "b": "5", "c": "143"} {
		if got := readFile(t, filepath.Join(pod, abi.StatusDir, app)); got != want {
			t.Errorf("status of %s = %q, want %q", app, got, want)
		}
	}
	if !strings.HasSuffix(pod, "pod") {
		t.Fatal(pod)
	}
}
