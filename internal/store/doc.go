// Package store owns rkt's image store under <data dir>/store: blobs by
// digest, one small JSON record per image, name references, and rendered
// layers (each layer unpacked once, keyed by its uncompressed digest, and
// shared by every image that has it). It also owns the store's version file
// and migrations, its locks, image garbage collection and verification.
//
// Everything becomes visible only once complete (write to tmp/, check,
// rename). The store must not talk HTTP or verify signatures: callers hand it
// readers and it checks digests.
package store
