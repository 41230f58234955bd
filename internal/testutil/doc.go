// Package testutil holds helpers shared by rkt's tests: a real Debian
// docker-registry on 127.0.0.1 with basic and token auth, a hostile in-process
// registry, and builders for test images and layers (busybox-static layers,
// whiteouts, hardlinks, multi-arch indexes, hostile tar entries).
//
// It is imported by tests only.
package testutil
