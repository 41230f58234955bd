package pod

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestAllocateUserns: concurrent pods get distinct ranges, each recorded
// under the data dir and in the pod; a pod keeps its range; freeing gives
// it back, but never a range another pod took since.
func TestAllocateUserns(t *testing.T) {
	dataDir := t.TempDir()
	const n = 40
	pods := make([]*Pod, n)
	for i := range pods {
		pods[i] = mustLoad(t, dataDir, mkPod(t, dataDir, phaseRun))
	}
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() {
			r, err := pods[i].AllocateUserns()
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, r := range got {
		shift, size, ok := strings.Cut(r, ":")
		s, err := strconv.Atoi(shift)
		if !ok || err != nil || size != "65536" || s < UsernsSize || s%UsernsSize != 0 {
			t.Fatalf("range %q", r)
		}
		if seen[shift] {
			t.Errorf("range %s given twice", shift)
		}
		seen[shift] = true
		if rec, _ := os.ReadFile(filepath.Join(dataDir, usernsDir, shift)); string(rec) != pods[i].UUID {
			t.Errorf("record of %s: %q", shift, rec)
		}
		if again, err := pods[i].AllocateUserns(); err != nil || again != r {
			t.Errorf("second allocation: %q %v, want %q", again, err, r)
		}
	}
	// A record that names another pod is not freed.
	shift0 := strings.Split(got[0], ":")[0]
	if err := os.WriteFile(filepath.Join(dataDir, usernsDir, shift0), []byte("someone-else"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if err := p.FreeUserns(); err != nil {
			t.Fatal(err)
		}
	}
	left, _ := os.ReadDir(filepath.Join(dataDir, usernsDir))
	if len(left) != 1 || left[0].Name() != shift0 {
		t.Errorf("records left: %v", left)
	}
	// A pod without a range frees nothing; a bad record is an error.
	p := mustLoad(t, dataDir, mkPod(t, dataDir, phaseRun))
	if err := p.FreeUserns(); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir, UsernsFile), []byte("x:y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.FreeUserns(); err == nil {
		t.Error("bad record accepted")
	}
}
