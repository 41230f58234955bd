//go:build !rktfront

package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rkt/rkt/internal/fetch"
)

// progressDisplay draws one line per layer on a terminal: the phase, bytes
// done of the total, and the rate. It redraws in place every tick.
type progressDisplay struct {
	w    io.Writer
	mu   sync.Mutex
	bars []*progressBar
	// drawn is how many lines the last redraw printed.
	drawn int
	stop  chan struct{}
	done  chan struct{}
}

type progressBar struct {
	d      *progressDisplay
	id     string
	total  int64
	n      int64
	phase  string
	start  time.Time // of the phase
	end    time.Time
	failed bool
}

func newProgressDisplay(w io.Writer) *progressDisplay {
	d := &progressDisplay{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go d.loop()
	return d
}

func (d *progressDisplay) loop() {
	defer close(d.done)
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.redraw()
		case <-d.stop:
			d.redraw()
			return
		}
	}
}

// Close draws the final state and stops the display.
func (d *progressDisplay) Close() {
	close(d.stop)
	<-d.done
}

func (d *progressDisplay) Layer(id string, total int64) fetch.LayerProgress {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := &progressBar{d: d, id: id, total: total, start: time.Now(), phase: "waiting"}
	d.bars = append(d.bars, b)
	return b
}

// Phase starts a new phase: its byte count and rate start from zero.
func (b *progressBar) Phase(p string) {
	b.d.mu.Lock()
	b.phase, b.n, b.start = p, 0, time.Now()
	b.d.mu.Unlock()
}

func (b *progressBar) Bytes(n int64) {
	b.d.mu.Lock()
	b.n = n
	b.d.mu.Unlock()
}

func (b *progressBar) Done(err error) {
	b.d.mu.Lock()
	b.end = time.Now()
	if err != nil {
		b.phase, b.failed = "failed", true
	} else {
		b.phase, b.n = "done", b.total
	}
	b.d.mu.Unlock()
}

func (d *progressDisplay) redraw() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var sb strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&sb, "\x1b[%dA", d.drawn)
	}
	for _, b := range d.bars {
		end := b.end
		if end.IsZero() {
			end = time.Now()
		}
		rate := ""
		if secs := end.Sub(b.start).Seconds(); secs > 0 && b.n > 0 {
			rate = humanBytes(int64(float64(b.n)/secs)) + "/s"
		}
		fmt.Fprintf(&sb, "\x1b[2K%s: %-11s %9s / %-9s %s\n", b.id, b.phase, humanBytes(b.n), humanBytes(b.total), rate)
	}
	d.drawn = len(d.bars)
	io.WriteString(d.w, sb.String())
}
