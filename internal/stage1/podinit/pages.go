package podinit

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DropCodePages unmaps, from this process only, the pages of its
// executable's read-only mappings (code and read-only data) and marks them
// for page-by-page faulting (MADV_RANDOM: no fault-around). The stage1
// processes that live as long as the pod (the run process and pod init)
// call it once their setup is done: the setup touched most of the binary,
// their steady state (waiting, reaping, forwarding signals) needs a few
// pages, which fault back from the page cache. Writable mappings are never
// touched.
func DropCodePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		// address perms offset dev inode path
		if len(f) < 6 || f[5] != exe || len(f[1]) < 2 || f[1][0] != 'r' || f[1][1] != '-' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		// The raw call: the range is an address from /proc/self/maps,
		// not a Go object.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_RANDOM)
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_DONTNEED)
	}
}
