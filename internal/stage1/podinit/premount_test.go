package podinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// TestPremadeOverlays makes the overlays of a pod's apps from their
// plans as pod init does, attaches one and checks that it is the app's
// overlay: the layers' files, written through to the upper dir. An app
// without an overlay, and one whose layers are missing, get none (pod
// init mounts those), the latter with a note.
func TestPremadeOverlays(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (fsmount, move_mount)")
	}
	dir := t.TempDir()
	lower := filepath.Join(dir, "layer")
	pod := filepath.Join(dir, "pod")
	mkdirs(t, lower, filepath.Join(pod, abi.Overlay, "web", "upper"), filepath.Join(pod, abi.Overlay, "web", "work"), filepath.Join(pod, abi.Stage2, "web", "rootfs"))
	if err := os.WriteFile(filepath.Join(lower, "from-layer"), []byte("layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pod)

	made := makeOverlays([]AppPlan{
		{Name: "web", LowerDirs: []string{lower}},
		{Name: "copied", LowerDirs: []string{lower}, NoOverlay: true},
		{Name: "broken", LowerDirs: []string{filepath.Join(dir, "missing")}},
	})
	got := made.fds
	if _, ok := got["web"]; len(got) != 1 || !ok {
		t.Fatalf("made overlays %v, want web's alone", got)
	}
	if len(made.notes) != 1 || !strings.Contains(made.notes[0], `"broken"`) {
		t.Errorf("notes %q, want one on app broken", made.notes)
	}
	p := AppPlan{Name: "web", Rootfs: abi.Stage2 + "/web/rootfs"}
	if err := attachOverlay(p, got["web"]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(pod, p.Rootfs), unix.MNT_DETACH) })
	if b, err := os.ReadFile(filepath.Join(p.Rootfs, "from-layer")); err != nil || string(b) != "layer" {
		t.Errorf("the layer's file through the overlay: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(p.Rootfs, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abi.Overlay, "web", "upper", "new")); err != nil {
		t.Errorf("a file written in the overlay is not in the upper dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lower, "new")); err == nil {
		t.Error("a file written in the overlay reached the layer")
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			t.Fatalf("mkdirs %s: not absolute", d)
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
