package cli

import (
	"io"
	"strings"
	"testing"
)

// TestFrontCommand: the front runs its own commands, and hands the bare
// rkt, help and anything it does not have to rkt-full.
func TestFrontCommand(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	root := a.rootCommand()
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
