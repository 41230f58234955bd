package podinit

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// TestPremadeOverlays sends the overlays of a pod dir's apps over a
// mount socket as the run process does, receives them as pod init does,
// attaches one and checks that it is the app's overlay: the layers'
// files, written through to the upper dir. An app without an overlay,
// and one whose layers are missing, get none (pod init mounts those).
func TestPremadeOverlays(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (fsmount, move_mount)")
	}
	dir := t.TempDir()
	lower := filepath.Join(dir, "layer")
	mkdirs(t, lower, filepath.Join(dir, "pod", abi.Overlay, "web", "upper"), filepath.Join(dir, "pod", abi.Overlay, "web", "work"), filepath.Join(dir, "pod", abi.Stage2, "web", "rootfs"))
	if err := os.WriteFile(filepath.Join(lower, "from-layer"), []byte("layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := filepath.Join(dir, "pod")
	apps := map[string]string{
		"web":    lower + "\n",
		"copied": lower + "\n",
		"broken": filepath.Join(dir, "missing") + "\n",
	}
	for app, layers := range apps {
		mkdirs(t, filepath.Join(pod, abi.AppsInfo, app))
		if err := os.WriteFile(filepath.Join(pod, abi.AppsInfo, app, abi.AppLayers), []byte(layers), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(pod, abi.AppsInfo, "copied", abi.AppNoOverlay), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pod)

	runEnd, initEnd, err := mountSocket()
	if err != nil {
		t.Fatal(err)
	}
	if err := SendOverlays(runEnd, Config{}, t.Logf); err != nil {
		t.Fatal(err)
	}
	got := receiveOverlays(initEnd, t.Logf)
	if _, ok := got["web"]; len(got) != 1 || !ok {
		t.Fatalf("received overlays %v, want web's alone", got)
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

// TestPremadeOverlaysUserns: with --private-users pod init idmaps the
// layers itself, so the run process sends nothing, and closes the socket.
func TestPremadeOverlaysUserns(t *testing.T) {
	runEnd, initEnd, err := mountSocket()
	if err != nil {
		t.Fatal(err)
	}
	if err := SendOverlays(runEnd, Config{UsernsShift: 100000, UsernsSize: 65536}, t.Logf); err != nil {
		t.Fatal(err)
	}
	if got := receiveOverlays(initEnd, t.Logf); len(got) != 0 {
		t.Errorf("received %v", got)
	}
	if got := receiveOverlays(-1, t.Logf); len(got) != 0 {
		t.Errorf("received %v without a socket", got)
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

// mountSocket is the mounts socket of abi.StartPodInit: the run
// process's end, then pod init's.
func mountSocket() (runEnd, initEnd int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}
