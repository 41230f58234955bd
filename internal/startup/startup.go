package startup

import "runtime"

// Size is the stack the importing program's main goroutine starts with
// (a power of two: the runtime doubles until a frame fits, and Grow's
// frame is just under half of it).
const Size = 64 << 10

func init() {
	runtime.MemProfileRate = 0
	Grow()
}

// ProfileMemory turns the memory profiler's sampling back on, at the
// runtime's default rate, for a command that writes a heap profile: it
// records what is allocated from then on.
func ProfileMemory() { runtime.MemProfileRate = defaultMemProfileRate }

// defaultMemProfileRate is the runtime's own default.
const defaultMemProfileRate = 512 * 1024

// frame is a little under half of Size, so that the runtime's doubling
// stops at Size: it doubles until the stack holds the frame, what is
// already used, and its guard.
const frame = Size/2 - 4<<10

// at keeps Grow's frame from being optimized away: the compiler cannot
// know which byte is written and read.
var at = frame - 1

// Grow grows the calling goroutine's stack to at least Size. A goroutine
// of the start path whose calls go deep (the front's pod directory and
// cgroups, made beside prepare) calls it first, for the reason the main
// goroutine's is grown.
//
//go:noinline
func Grow() {
	var buf [frame]byte
	buf[at%frame] = 1
	runtime.KeepAlive(buf[(at+1)%frame])
}
