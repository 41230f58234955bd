package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// signalContext is the context commands run under: SIGINT and SIGTERM
// cancel it, but only once something has looked at it (Done or Err).
// Until then the signals keep their default action and kill rkt.
//
// Catching a signal costs a Go process three threads (os/signal's locked
// thread, its receiving thread and the template thread), a tenth of a
// millisecond each. `rkt run` of a stored image never waits on its
// context before it execs stage1, which installs its own handlers, so it
// does not pay for them; a prepare interrupted there is an aborted
// prepare, which gc removes, as after kill -9. Every command that waits
// (a download, a render, a wait, a server) asks its context first and so
// catches the signals before it starts.
type signalContext struct {
	signals []os.Signal
	once    sync.Once
	ctx     context.Context
	stop    context.CancelFunc
}

func newSignalContext(signals ...os.Signal) *signalContext {
	return &signalContext{signals: signals}
}

// defaultSignals are the signals that cancel a command.
var defaultSignals = []os.Signal{os.Interrupt, unix.SIGTERM}

func (c *signalContext) arm() context.Context {
	c.once.Do(func() {
		c.ctx, c.stop = signal.NotifyContext(context.Background(), c.signals...)
	})
	return c.ctx
}

// Stop stops catching the signals and cancels the context.
func (c *signalContext) Stop() {
	c.once.Do(func() {
		// Never armed: nothing to stop catching.
		c.ctx, c.stop = context.WithCancel(context.Background())
	})
	c.stop()
}

func (c *signalContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *signalContext) Done() <-chan struct{}       { return c.arm().Done() }
func (c *signalContext) Err() error                  { return c.arm().Err() }
func (c *signalContext) Value(any) any               { return nil }
