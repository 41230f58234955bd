package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestFrontCommand: the front runs its own commands, and hands the bare
// rkt, help and anything it does not have to rkt-full.
func TestFrontCommand(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	root := a.rootCommand(nil)
	tests := []struct {
		args string
		want bool
	}{
		{"run --net=host sha256-ab", true},
		{"--dir=/tmp/x --debug run IMG", true},
		{"--dir /tmp/x list --full", true},
		{"status UUID", true},
		{"gc --grace-period=0s", true},
		{"run-prepared UUID", true},
		{"", false},
		{"--help", false},
		{"help run", false},
		{"no-such-command", false},
		{"completion bash", false}, // cobra adds it at Execute: rkt-full's
	}
	for _, tc := range tests {
		if got := frontCommand(root, strings.Fields(tc.args)); got != tc.want {
			t.Errorf("frontCommand(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestLazyCommands: each lazy command builds the command of its name;
// rootCommand builds only the command its arguments select, and all of
// them when they select none.
func TestLazyCommands(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	for _, l := range append(a.commands(), a.fullCommands()...) {
		if got := l.build().Name(); got != l.name {
			t.Errorf("lazy command %q builds %q", l.name, got)
		}
	}
	child := func(root *cobra.Command, name string) *cobra.Command {
		for _, c := range root.Commands() {
			if c.Name() == name {
				return c
			}
		}
		t.Fatalf("no command %q", name)
		return nil
	}
	root := a.rootCommand(strings.Fields("--dir=/x run --net=host IMG --exec=/bin/true"))
	if child(root, "run").Flags().Lookup("net") == nil {
		t.Error("rkt run: run was not built")
	}
	if child(root, "list").Flags().Lookup("full") != nil {
		t.Error("rkt run: list was built too")
	}
	for _, args := range []string{"", "help list", "--help", "bogus", "ru IMG"} { // "ru": run or run-prepared
		root := a.rootCommand(strings.Fields(args))
		if child(root, "list").Flags().Lookup("full") == nil {
			t.Errorf("rkt %s: list was not built", args)
		}
	}
}
