// Package mdsclient owns stage0's side of the metadata service's
// registration API (see package mds): the pod token, the well-known
// socket and port, and a client that registers and unregisters pods over
// the unix socket.
//
// It speaks the few HTTP/1.0 exchanges of that API itself, on top of the
// net package, rather than through net/http: the front rkt binary, which
// starts every pod, registers pods with it and so links it, and net/http
// with its TLS stack made every rkt start about half a millisecond slower
// (bench/RESULTS.md, seventh pass). Responses are read through a bound:
// a status line, headers and at most 64 KiB of body.
package mdsclient
