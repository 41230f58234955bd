package startup

import (
	"runtime"
	"testing"
)

// TestGrow checks that Grow's frame survives the compiler, by the stack
// memory a fresh goroutine holds after calling it.
func TestGrow(t *testing.T) {
	inuse := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.StackInuse
	}
	before := make(chan uint64)
	grown := make(chan uint64)
	done := make(chan struct{})
	go func() {
		b := inuse()
		Grow()
		g := inuse()
		before <- b
		grown <- g
		<-done
	}()
	b, g := <-before, <-grown
	close(done)
	if g < b+Size/2 {
		t.Fatalf("stack in use went from %d to %d bytes: Grow did not grow the stack to %d", b, g, Size)
	}
}

// TestMemProfileRate: importing the package turns the memory profiler's
// sampling off; ProfileMemory turns it on again.
func TestMemProfileRate(t *testing.T) {
	if runtime.MemProfileRate != 0 {
		t.Fatalf("MemProfileRate = %d after init, want 0", runtime.MemProfileRate)
	}
	ProfileMemory()
	defer func() { runtime.MemProfileRate = 0 }()
	if runtime.MemProfileRate != defaultMemProfileRate {
		t.Errorf("MemProfileRate = %d after ProfileMemory", runtime.MemProfileRate)
	}
}
