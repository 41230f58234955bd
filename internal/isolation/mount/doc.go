// Package mount is the only caller of the mount-related system calls
// (mount, open_tree, move_mount, fsopen/fsmount, mount_setattr, pivot_root,
// umount) for the ns stage1 flavor, plus the fd-based path resolution they
// need (openat2 with RESOLVE_IN_ROOT).
//
// It owns mechanism only: resolving a path inside a root directory by file
// descriptor (never by joining strings), creating missing mount targets
// there, and attaching file systems or bind mounts onto an opened target.
//
// It must not make policy decisions: which file systems a pod gets, with
// which options, and where, is decided by the caller (internal/stage1/podinit
// builds a plan; this package executes single steps of it). It must not read
// pod manifests or know about apps.
package mount
