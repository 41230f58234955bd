// Package prestack grows the stack of the goroutine that initializes the
// program (the one that then runs main) to its working size at once,
// while the stack is still shallow.
//
// A goroutine starts with a 2 KiB stack, and the runtime doubles it by
// copying whenever a call would overflow it. Each copy walks every frame
// on the stack and looks up its stack map in the binary's tables, whose
// pages are often touched for the first time then: rkt's start path
// (package initialisation, cobra, prepare) grew its stack four or five
// times, deep in its call chains. Importing this package, blank, from a
// command's main package makes that one copy of a few frames.
package prestack
