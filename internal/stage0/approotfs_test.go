package stage0

import (
	"testing"

	"github.com/appc/spec/schema"
)

func TestACIKeep(t *testing.T) {
	node := func(parent int, wl ...string) aciNode {
		return aciNode{manifest: &schema.ImageManifest{PathWhitelist: wl}, parent: parent}
	}
	// app (whitelist) -> mid (none) -> base (own whitelist); app -> other.
	tree := []aciNode{
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
	if aciKeep([]aciNode{node(-1), node(0)}, 1) != nil {
		t.Error("no whitelist: want no filter")
	}
}
