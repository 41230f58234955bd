package podinit

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// onSpareThread runs f in a new goroutine locked, for good, to an OS
// thread other than the process's main one: f may change its thread for
// good (its cgroups, namespaces, root), and the thread dies with the
// goroutine. The main thread is pod init as /proc/1 shows it, and must
// never change; pod init's main goroutine does not hold it (a locked
// goroutine costs a thread hand-off each time it blocks), so the
// scheduler may give the new goroutine that thread: spareThread then
// runs f on another.
func onSpareThread(f func()) {
	go spareThread(f)
}

// spareThread is onSpareThread's goroutine.
func spareThread(f func()) {
	runtime.LockOSThread()
	if unix.Gettid() != unix.Getpid() {
		f() // never unlocked: the thread dies with the goroutine
		return
	}
	// On the main thread: keep it while f runs on another, which the
	// scheduler cannot give this locked one, then let it go unchanged.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
	runtime.UnlockOSThread()
}
