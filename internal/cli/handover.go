package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// fullBinary is rkt-full's file name, looked for beside the running rkt.
//
// rkt is two binaries. The front (cmd/rkt built with the rktfront tag,
// installed as rkt) runs, prepares and manages pods of images that are
// stored and rendered; rkt-full (the same command without the tag) also
// fetches, verifies, decompresses and serves. The front links none of that
// code, whose package initialisation alone would cost each start more than
// a millisecond. Whatever the front does not do, it hands to rkt-full
// before it has made or printed anything: an exec with the same arguments,
// in the same process.
const fullBinary = "rkt-full"

// frontCommand reports whether the front runs args itself: they name one
// of its commands (not the bare rkt, not help, not a command only rkt-full
// has).
func frontCommand(root *cobra.Command, args []string) bool {
	c, _, err := root.Find(args)
	return err == nil && c != root && c.Name() != "help"
}

// handOver execs rkt-full with args; it returns only when that fails.
func (a *app) handOver(args []string, why string) int {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "rkt: finding %s: %v\n", fullBinary, err)
		return errdefs.ExitFailure
	}
	full := filepath.Join(filepath.Dir(exe), fullBinary)
	a.debugf("rkt: handing over to %s: %s", full, why)
	err = unix.Exec(full, append([]string{os.Args[0]}, args...), os.Environ())
	fmt.Fprintf(a.stderr, "rkt: this command needs %s, beside rkt: %v\n", full, err)
	return errdefs.ExitFailure
}
