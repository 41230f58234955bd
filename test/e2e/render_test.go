package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/testutil"
)

// TestRenderWhiteouts fetches the three-layer whiteout image and checks
// the flattened tree two ways: `rkt image render --rootfs-only`, and an
// overlayfs mount of the layers as the store keeps them (which proves the
// stored layers, with their overlay whiteouts, stack correctly).
func TestRenderWhiteouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img, want := testutil.WhiteoutImage(t)
	layout := filepath.Join(t.TempDir(), "layout")
	testutil.WriteOCILayout(t, layout, img, "whiteouts")
	id := mustFetch(t, e, "oci:"+layout)

	out := filepath.Join(t.TempDir(), "rendered")
	rkt(t, e, "image", "render", "--rootfs-only", id, out).ok(t)
	testutil.CheckRootfs(t, out, want)

	t.Run("overlay of the stored layers", func(t *testing.T) {
		ids := diffIDs(t, img)
		var lower []string
		for i := len(ids) - 1; i >= 0; i-- { // the top layer first
			dir := filepath.Join(e.store(), "layers", "sha256-"+ids[i].Hex, "rootfs")
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("rendered layer %d: %v", i, err)
			}
			lower = append(lower, dir)
		}
		mnt := t.TempDir()
		err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lower, ":"))
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) {
			t.Skipf("cannot mount overlayfs here (%v): needs CAP_SYS_ADMIN and the overlay module", err)
		}
		if err != nil {
			t.Fatalf("mount overlay lowerdir=%s on %s: %v", strings.Join(lower, ":"), mnt, err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", mnt, err)
			}
		})
		testutil.CheckRootfs(t, mnt, want)
	})
}

// TestRenderBusybox renders the busybox image and runs its busybox.
func TestRenderBusybox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := testutil.BusyboxImage(t, v1.Config{Cmd: []string{"/bin/sh"}})
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	testutil.WriteOCIArchive(t, archive, img, "latest")
	id := mustFetch(t, e, "oci-archive:"+archive)

	out := filepath.Join(t.TempDir(), "busybox")
	rkt(t, e, "image", "render", "--rootfs-only", id, out).ok(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bb := filepath.Join(out, "bin", "busybox")
	if b, err := exec.CommandContext(ctx, bb, "true").CombinedOutput(); err != nil {
		t.Fatalf("%s true: %v\n%s", bb, err, b)
	}
	b, err := exec.CommandContext(ctx, bb, "echo", "hello from the image").Output()
	if err != nil || string(b) != "hello from the image\n" {
		t.Fatalf("%s echo: %q, %v", bb, b, err)
	}
	// The applets are symlinks to it.
	if l, err := os.Readlink(filepath.Join(out, "bin", "sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v; want busybox", l, err)
	}
}
