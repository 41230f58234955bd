// Package errdefs owns rkt's error kinds and the process exit codes they map
// to. It depends on nothing else in rkt, so every layer can use it.
package errdefs
