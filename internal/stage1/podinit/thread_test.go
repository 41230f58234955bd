package podinit

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The main goroutine keeps the main thread through package
// initialization into TestMain, which checks spareThread from there.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	if err := checkSpareThreadFromMain(); err != nil {
		fmt.Fprintln(os.Stderr, "spareThread on the main thread:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// checkSpareThreadFromMain: spareThread, running on the main thread, runs
// f on another thread and leaves the main one to its caller.
func checkSpareThreadFromMain() error {
	pid := unix.Getpid()
	if unix.Gettid() != pid {
		return fmt.Errorf("TestMain is not on the main thread")
	}
	tid := 0
	spareThread(func() { tid = unix.Gettid() })
	switch {
	case tid == 0:
		return fmt.Errorf("f did not run")
	case tid == pid:
		return fmt.Errorf("f ran on the main thread")
	case unix.Gettid() != pid:
		return fmt.Errorf("the caller lost the main thread")
	}
	return nil
}

// TestOnSpareThread: f runs off the main thread, and its thread is not
// reused once f returns (it dies with the goroutine).
func TestOnSpareThread(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		done := make(chan int)
		onSpareThread(func() { done <- unix.Gettid() })
		tid := <-done
		if tid == unix.Getpid() {
			t.Fatal("f ran on the main thread")
		}
		seen[tid] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 runs on %d thread(s): the locked threads were reused", len(seen))
	}
}
