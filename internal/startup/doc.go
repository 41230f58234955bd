// Package startup sets up the Go runtime for a command that starts, does
// a few milliseconds of work and execs or exits, as every rkt process on
// a pod's start path does. Import it, blank, first in a command's main
// package: it imports nothing but the runtime, so its init runs among
// the first.
//
// It grows the main goroutine's stack to its working size at once, while
// the stack is still shallow. A goroutine starts with 2 KiB of stack, and
// the runtime doubles it by copying whenever a call would overflow it:
// each copy walks every frame and reads its stack map from the binary's
// tables, whose pages are often touched for the first time then. rkt's
// start path (package initialization, cobra, prepare) grew its stack four
// or five times, deep in its call chains; now it is one copy of a few
// frames.
//
// It turns the memory profiler's sampling off (runtime.MemProfileRate),
// which the runtime keeps on in any binary that can write a heap profile
// (rkt's hidden --memprofile): a sample unwinds the stack and fills the
// profile's hash table, about 1.5 % of the front's start. A command that
// writes a heap profile sets the rate again (ProfileMemory).
package startup
