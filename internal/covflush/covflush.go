package covflush

import (
	"os"
	"runtime/coverage"
)

// BeforeExec writes this process's coverage meta-data and counters into
// $GOCOVERDIR, when it is set.
func BeforeExec() {
	d := os.Getenv("GOCOVERDIR")
	if d == "" {
		return
	}
	_ = coverage.WriteMetaDir(d)
	_ = coverage.WriteCountersDir(d)
}

// FromOtherThread is BeforeExec run on another OS thread, for a process
// whose calling thread has joined a mount namespace where $GOCOVERDIR is
// not (rkt enter's): the others still see the host's.
func FromOtherThread() {
	if os.Getenv("GOCOVERDIR") == "" {
		return
	}
	done := make(chan struct{})
	go func() {
		BeforeExec()
		close(done)
	}()
	<-done
}
