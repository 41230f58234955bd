// Package fetch owns the fetch workflow of stage0: it turns an image input
// into a stored, rendered image by resolving it (internal/image), applying
// the pull policy and the insecure options, downloading blobs in parallel
// into the store and rendering their layers (internal/store). It does not
// parse flags or print; the CLI hands it options and a progress sink.
package fetch
