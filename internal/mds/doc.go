// Package mds owns the appc metadata service (rkt metadata-service): the
// registry of registered pods, the registration API stage0 talks to over a
// unix socket, the public API apps reach over TCP with their pod's token,
// and the pod identity HMAC; stage0's registration client is its
// subpackage mdsclient, which does without net/http. The
// public API is reachable from every pod, so everything it reads is
// hostile: bodies are bounded, routing is exact, the token alone selects
// the pod and is compared in constant time.
//
// It must not touch pod directories, the image store or the kernel beyond
// its own listeners; stage1 code must never import it (it talks HTTP).
package mds
