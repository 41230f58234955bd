package podinit

import (
	"errors"
	"os"
	"testing"
)

// TestMakeStateDirs: the run process and pod init both make the state
// directories, in either order; the second finds them there.
func TestMakeStateDirs(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll(PidsDir, 0o750); err != nil { // one made already
		t.Fatal(err)
	}
	for range 2 {
		if err := MakeStateDirs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range stateDirs {
		st, err := os.Stat(d.path)
		if err != nil || !st.IsDir() {
			t.Fatalf("%s: %v", d.path, err)
		}
		if st.Mode().Perm() != d.mode&^0o022 && st.Mode().Perm() != d.mode {
			t.Errorf("%s: mode %v, want %v", d.path, st.Mode().Perm(), d.mode)
		}
	}
	if err := os.RemoveAll("stage1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("stage1", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MakeStateDirs(); err == nil {
		t.Error("MakeStateDirs over a file named stage1: no error")
	}
}

// TestAsync: the result of the goroutine comes back, to every wait.
func TestAsync(t *testing.T) {
	release := make(chan struct{})
	wait := async(func() (int, error) {
		<-release
		return 7, os.ErrNotExist
	})
	close(release)
	for range 2 {
		if v, err := wait(); v != 7 || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("wait() = %d, %v; want 7, %v", v, err, os.ErrNotExist)
		}
	}
}
