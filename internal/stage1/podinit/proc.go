package podinit

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Wait reaps child pid, retrying on EINTR.
func Wait(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			return ws, err
		}
	}
}

// ExitCode is a wait status as a shell reports it: the exit code, or
// 128+N for death by signal N.
func ExitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// WriteAtomic writes a file of the pod dir through a temporary file and a
// rename, so no reader sees it half-written.
func WriteAtomic(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil { //nolint:gosec // bind-mounted read-only into apps of any uid (hosts), and read by rkt status callers
		return err
	}
	return os.Rename(tmp, p)
}
