package ns

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/network"
)

// Stop is the stop entrypoint (cwd = the pod dir): SIGTERM to the pod's
// PID 1 (pod init stops the apps), or SIGKILL with --force.
func Stop(args []string) int {
	a, err := abi.ParseStopArgs(args)
	if err != nil {
		return fail("%v", err)
	}
	pid, err := readPID(abi.PID)
	if err != nil {
		return fail("stop: %v", err)
	}
	sig := unix.SIGTERM
	if a.Force {
		sig = unix.SIGKILL
	}
	if err := unix.Kill(pid, sig); err != nil {
		return fail("stop: signaling pod init (PID %d): %v", pid, err)
	}
	return 0
}

// GC is the gc entrypoint (cwd = the pod dir): it detaches the pod from
// the CNI networks its run process did not leave (killed, or a plugin
// failed); with host or no networking there is nothing to clean.
func GC(args []string) int {
	a, err := abi.ParseGCArgs(args)
	if err != nil {
		return fail("%v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return fail("%v", err)
	}
	p := network.NewPod(dir, a.UUID, a.LocalConfig)
	if a.Debug {
		p.Debugf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "stage1: gc: "+format+"\n", args...) }
	}
	if err := network.Teardown(context.Background(), p); err != nil {
		return fail("gc: %v", err)
	}
	return 0
}
