// Package caps owns Linux capabilities for the pods: the names of the
// capabilities (as appc's os/linux/capabilities-* isolators and the
// --caps-retain/--caps-remove flags spell them), rkt's default bounding
// set, the sets the isolators give, and limiting the calling thread's sets
// before it forks an app.
//
// Capability sets are per thread in Linux: LimitThread changes only the
// calling OS thread, which must be locked (runtime.LockOSThread) and must
// not go back to the Go scheduler. It never touches other threads, so it
// is safe in a multi-threaded Go process.
package caps
