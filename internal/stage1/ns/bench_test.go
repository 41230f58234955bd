package ns_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// BenchmarkRun runs a pod with one app, /bin/true, from the exec of the run
// entrypoint to its exit. Each iteration uses a fresh pod directory (made
// outside the timer), as stage0 would.
func BenchmarkRun(b *testing.B) {
	bin := stage1Binary(b)
	pods := make([]string, b.N)
	for i := range pods {
		pods[i] = makePod(b, []testApp{{name: "app", exec: []string{"/bin/true"}}}, nil)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.CommandContext(b.Context(), bin, "run", "--net=host", testUUID)
		cmd.Dir = pods[i]
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if os.Getenv("RKT_DEBUG") != "" {
			cmd.Args = append(cmd.Args[:2], append([]string{"--debug"}, cmd.Args[2:]...)...)
		}
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for _, p := range pods {
		if _, err := os.Stat(filepath.Join(p, abi.StatusDir, "app")); err != nil {
			b.Fatal(err)
		}
	}
}
