package stage0

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/testutil"
)

func TestACIKeep(t *testing.T) {
	node := func(parent int, wl ...string) aci.Node {
		return aci.Node{Manifest: &schema.ImageManifest{PathWhitelist: wl}, Parent: parent}
	}
	// app (whitelist) -> mid (none) -> base (own whitelist); app -> other.
	tree := []aci.Node{
		node(-1, "/bin/sh", "/etc/passwd", "/opt/dir/", "/app/x"),
		node(0),
		node(1, "/bin/sh", "/lib/libc.so"),
		node(0),
	}
	for _, tc := range []struct {
		node int
		path string
		dir  bool
		want bool
	}{
		{0, "app/x", false, true},
		{0, "app/y", false, false}, // its own whitelist drops its files
		{0, "var", true, true},     // but not its directories
		{1, "etc/passwd", false, true},
		{1, "etc/shadow", false, false}, // the app's whitelist filters its dependencies
		{1, "etc", true, true},          // parents of listed paths stay
		{1, "var", true, false},
		{1, "opt/dir", true, true}, // a listed directory
		{1, "opt/dir/f", false, false},
		{2, "bin/sh", false, true},
		{2, "lib/libc.so", false, false}, // its own lists it, the app's does not
		{2, "etc/passwd", false, false},  // the app's lists it, its own does not
		{3, "bin/sh", false, true},
		{3, "usr/bin/env", false, false},
	} {
		keep := aciKeep(tree, tc.node)
		if got := keep(tc.path, tc.dir); got != tc.want {
			t.Errorf("node %d, %q (dir %v): keep = %v, want %v", tc.node, tc.path, tc.dir, got, tc.want)
		}
	}
	if aciKeep([]aci.Node{node(-1), node(0)}, 1) != nil {
		t.Error("no whitelist: want no filter")
	}
}

// An ACI's app runs over the dependency tree it is given (what Fetch
// resolved), not one looked up again.
func TestAppForACIUsesTree(t *testing.T) {
	var m schema.ImageManifest
	if err := json.Unmarshal([]byte(testutil.ACIManifest("example.com/app", "1", `{"exec":["/bin/true"],"user":"0","group":"0"}`)), &m); err != nil {
		t.Fatal(err)
	}
	img := &store.Image{ID: digest.NewDigestFromEncoded(digest.SHA512, strings.Repeat("a", 128)), Name: "example.com/app:1", MediaType: aci.MediaType}
	other := &store.Image{ID: digest.NewDigestFromEncoded(digest.SHA512, strings.Repeat("b", 128))}
	tree := []aci.Node{
		{Image: img, Manifest: &m, Dir: "/t/app", Parent: -1},
		{Image: other, Manifest: &schema.ImageManifest{}, Dir: "/t/dep", Parent: 0},
		{Image: other, Manifest: &schema.ImageManifest{}, Dir: "/t/depdep", Parent: 1},
	}
	for _, tc := range []struct {
		name    string
		tree    []aci.Node
		want    []string
		wantErr string
	}{
		{name: "bottom first", tree: tree, want: []string{"/t/depdep/rootfs", "/t/dep/rootfs", "/t/app/rootfs"}},
		{name: "no tree", wantErr: "dependency tree is not resolved"},
		{name: "another image's tree", tree: tree[1:], wantErr: "dependency tree is not resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, root, err := appFor(nil, img, tc.tree, podspec.AppOptions{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("appFor = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(root.layers, tc.want) || len(root.aci) != len(tc.tree) {
				t.Errorf("layers %q (tree of %d), want %q", root.layers, len(root.aci), tc.want)
			}
		})
	}
}
