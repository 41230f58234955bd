package stage0

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/rkt/rkt/internal/pod"
)

// TestDiscardKeepsLock: a pod that prepare gives up on is removed under
// its lock. Unlocked in prepare/, it would be an aborted prepare that a
// concurrent gc moves to garbage/ and deletes while discardOnError
// deletes it too: one of them fails on the entries the other removed.
func TestDiscardKeepsLock(t *testing.T) {
	dataDir := t.TempDir()
	for round := range 3 {
		p, err := newPodWithDirs(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		// Enough entries that removing them takes a while.
		for i := range 40 {
			d := filepath.Join(p.Dir, "stage1", fmt.Sprint(i))
			if err := os.MkdirAll(d, 0o750); err != nil {
				t.Fatal(err)
			}
			for j := range 50 {
				if err := os.WriteFile(filepath.Join(d, fmt.Sprint(j)), nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
		}
		var stop atomic.Bool
		gcErrs := make(chan []string, 1)
		go func() {
			var bad []string
			for !stop.Load() {
				res, err := pod.GC(dataDir, pod.GCOptions{})
				if err != nil {
					bad = append(bad, err.Error())
				}
				for _, e := range res.Events {
					if e.Action == pod.MarkedAborted || e.Action == pod.Failed {
						msg, _ := e.Message()
						bad = append(bad, msg)
					}
				}
			}
			gcErrs <- bad
		}()
		failed := errors.New("prepare failed")
		err = failed
		discardOnError(p, &err)
		stop.Store(true)
		if bad := <-gcErrs; len(bad) > 0 {
			t.Errorf("round %d: a gc beside the discard: %q", round, bad)
		}
		if err.Error() != failed.Error() {
			t.Errorf("round %d: discard: %v", round, err)
		}
		if _, serr := os.Stat(p.Dir); !errors.Is(serr, fs.ErrNotExist) {
			t.Errorf("round %d: pod directory still there: %v", round, serr)
		}
	}
}
