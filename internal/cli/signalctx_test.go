package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSignalContextCancelsOnceLookedAt(t *testing.T) {
	c := newSignalContext(unix.SIGUSR2)
	defer c.Stop()
	done := c.Done() // arms: SIGUSR2 no longer kills the test binary
	if err := c.Err(); err != nil {
		t.Fatalf("Err before any signal = %v", err)
	}
	if err := unix.Kill(unix.Getpid(), unix.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the signal did not cancel the context")
	}
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after the signal = %v, want context.Canceled", err)
	}
}

func TestSignalContextStop(t *testing.T) {
	for _, look := range []bool{false, true} {
		c := newSignalContext(unix.SIGUSR2)
		if look {
			_ = c.Done()
		}
		c.Stop()
		if err := c.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("looked at first %v: Err after Stop = %v, want context.Canceled", look, err)
		}
		if _, ok := c.Deadline(); ok {
			t.Errorf("looked at first %v: a deadline", look)
		}
		// Derived contexts see the cancellation.
		d, cancel := context.WithCancel(c)
		<-d.Done()
		cancel()
	}
}
