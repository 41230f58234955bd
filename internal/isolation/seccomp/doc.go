// Package seccomp owns the seccomp filters of the pods: the named groups of
// system calls rkt and appc define (@rkt/default-whitelist and the
// others), the policies of the os/linux/seccomp-retain-set and -remove-set
// isolators, and their compilation to a classic BPF program that covers
// the three x86 system call entry points of an amd64 kernel: x86_64, i386
// (int 0x80) and x32. An architecture the filter does not know kills the
// process.
//
// A filter is installed on the calling thread only (no TSYNC), which must
// be locked to its OS thread and never go back to the Go scheduler: the
// ns stage1 installs it on the thread that forks the app, so it is in force
// from the app's first instruction. The system calls that thread and Go's
// fork-and-exec child make after the install (Startup) are therefore
// always allowed in a retain set, and may not be removed.
package seccomp
