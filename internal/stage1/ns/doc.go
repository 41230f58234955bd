// Package ns is the default stage1 flavor, "ns": the run, enter, stop and gc
// entrypoints of the stage0↔stage1 contract (internal/stage1/abi), built on
// Linux namespaces and a Go pod init (internal/stage1/podinit).
//
// It owns: parsing each entrypoint's arguments, choosing the namespaces of a
// pod from the run flags, starting pod init and staying as the pod's root
// process (forwarding signals, keeping the pod lock open, exiting with the
// pod's code), and joining or signaling a running pod for enter and stop.
//
// It must not import the store, image, trust, stage0 or CLI packages, talk
// HTTP or gRPC, or call mount-style system calls itself (those live in
// internal/isolation/mount). It never writes into the stage1 rootfs.
package ns
