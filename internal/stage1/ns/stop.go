package ns

import (
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
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
