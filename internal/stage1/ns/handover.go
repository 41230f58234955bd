package ns

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// FullBinary is the file name of the full stage1 binary in the stage1
// image, beside the light run binary (see haveCNI).
const FullBinary = abi.FlavorBinaryPrefix + "ns"

// handOver execs the full stage1 binary beside this one, with the same
// arguments (argv[0] names the entrypoint it dispatches on), environment
// and descriptors, in the same process; it returns only when that fails.
func handOver(why string) int {
	exe, err := os.Executable()
	if err != nil {
		return fail("%s: finding the full stage1 binary: %v", why, err)
	}
	full := filepath.Dir(exe) + "/" + FullBinary
	err = unix.Exec(full, os.Args, os.Environ())
	return fail("%s: handing over to %s: %v", why, full, err)
}
