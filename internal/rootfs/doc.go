// Package rootfs owns safe extraction of image layers onto disk: tar entries
// from hostile images are applied under a root directory resolved by file
// descriptor (openat2 RESOLVE_IN_ROOT), OCI whiteouts are converted or
// applied, and size limits stop decompression bombs. It also computes and
// re-checks the content hash of a rendered tree, and removes trees without
// crossing mount points.
//
// It must not use string path joins inside image content, and must not know
// about the store, registries or pods.
package rootfs
