// Package podinit is PID 1 inside an ns-flavor pod, and the short-lived
// "app-exec" helper that turns into each app.
//
// It owns: computing a plan (overlay rootfs, /proc, /sys, /dev, /etc files,
// volumes, environment, credentials, argv) for each app of a pod manifest;
// executing that plan through internal/isolation/mount; starting every app
// in its own mount namespace; reaping every process of the pod (it is PID 1
// of the pod's PID namespace); writing the per-app status, env and pid files
// of the pod directory; stopping the apps when one fails or when the pod is
// asked to stop; and exiting with the pod's exit code.
//
// It must not: import the store, image, trust, stage0 or CLI packages, talk
// to the network, or call mount/pivot_root-style system calls itself (those
// go through internal/isolation/mount). Paths inside an app rootfs are never
// built by joining strings: every target is resolved by file descriptor.
package podinit
