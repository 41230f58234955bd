package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFrontHandsOver: bin/rkt is the front binary. It runs a pod of a
// stored image itself, and hands to rkt-full, with the same arguments,
// whatever needs fetching (an oci: image not yet stored, and the stage1
// image on first use) or is rkt-full's command (image list), before it has
// made or printed anything.
func TestFrontHandsOver(t *testing.T) {
	e, img := podEnv(t)
	full := filepath.Join(filepath.Dir(rktBinary), "rkt-full")
	if !fileExists(full) {
		t.Skipf("%s is not beside %s: this rkt is one binary (a coverage build)", full, rktBinary)
	}
	t.Parallel()
	handover := "handing over to " + full
	r := rkt(t, e, insecureImage, "--debug", "run", "--net=host", img, "--exec=/bin/echo", "--", "fetched").ok(t)
	if strings.TrimSpace(r.stdout) != "fetched" || !strings.Contains(r.stderr, handover) {
		t.Fatalf("a run that fetches: want the app's output and a hand-over to rkt-full:\n%v", r)
	}
	if n := strings.Count(r.stderr, "image: warning: image signature verification has been disabled"); n != 1 {
		t.Errorf("the insecure-image warning is printed %d times, want once:\n%v", n, r)
	}
	// An image named by its transport is rkt-full's to look up, stored
	// or not. The front made its pod directory while it looked, and
	// removed it before it handed over: rkt-full's pods are the only ones.
	r = rkt(t, e, insecureImage, "--debug", "run", "--net=host", img, "--exec=/bin/true").ok(t)
	if !strings.Contains(r.stderr, handover) {
		t.Fatalf("a run of an image named by its transport: want a hand-over to rkt-full:\n%v", r)
	}
	if l := rkt(t, e, "list", "--no-legend").ok(t); len(strings.Split(strings.TrimSpace(l.stdout), "\n")) != 2 {
		t.Errorf("two runs handed over, want two pods:\n%v", l)
	}
	for _, state := range []string{"embryo", "prepare"} {
		if ents, err := os.ReadDir(filepath.Join(e.dir, "pods", state)); err != nil || len(ents) != 0 {
			t.Errorf("pods/%s after a hand-over: %d entries (%v), want none", state, len(ents), err)
		}
	}
	// The stage1 image is an ACI (sha512-…), the OCI image sha256-….
	var id string
	list := rkt(t, e, "image", "list", "--no-legend", "--fields=id").ok(t)
	for _, l := range strings.Fields(list.stdout) {
		if strings.HasPrefix(l, "sha256-") {
			id = l
		}
	}
	if id == "" {
		t.Fatalf("image list through rkt-full: no OCI image:\n%v", list)
	}
	// Stored and rendered, stage1 included: the front runs it.
	r = rkt(t, e, "--debug", "run", "--net=host", id, "--exec=/bin/echo", "--", "front").ok(t)
	if strings.TrimSpace(r.stdout) != "front" || strings.Contains(r.stderr, "handing over") {
		t.Fatalf("a run of a stored image: want the front to run it:\n%v", r)
	}
	// A copy of the image (--no-overlay) is rendered by rkt-full.
	r = rkt(t, e, "--debug", "run", "--net=host", "--no-overlay", id, "--exec=/bin/echo", "--", "copy").ok(t)
	if strings.TrimSpace(r.stdout) != "copy" || !strings.Contains(r.stderr, handover) {
		t.Fatalf("--no-overlay: want a hand-over to rkt-full:\n%v", r)
	}
	// The same for a pod's exit code, and for pod commands.
	rkt(t, e, "run", "--net=host", id, "--exec=/bin/sh", "--", "-c", "exit 7").exit(t, 7)
	if r := rkt(t, e, "--debug", "list", "--no-legend"); r.code != 0 || strings.Contains(r.stderr, "handing over") {
		t.Fatalf("rkt list: want the front to list:\n%v", r)
	}
	// Without rkt-full beside it, the front says so.
	dir := t.TempDir()
	lone := filepath.Join(dir, "rkt")
	data, err := os.ReadFile(rktBinary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	r = rawRktAt(t, e, lone, append(e.globalFlags(), "image", "list")...)
	if r.code != 254 || !strings.Contains(r.stderr, "this command needs "+filepath.Join(dir, "rkt-full")) {
		t.Fatalf("a front without rkt-full: want exit 254 naming the missing binary:\n%v", r)
	}
}
