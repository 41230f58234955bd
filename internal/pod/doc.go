// Package pod owns pod directories, UUIDs, states, locks and listing: the
// on-disk pod lifecycle of rkt 1.x, under <dataDir>/pods/{embryo,prepare,
// prepared,run,exited-garbage,garbage}/<uuid>.
//
// Every transition is an atomic rename(2) between those directories; the
// state of a pod is the directory it is in plus whether its directory is
// flock(2)ed (a lock on the pod directory itself, opened O_RDONLY|
// O_DIRECTORY):
//
//	embryo/          embryo (created by NewEmbryo, unlocked)
//	prepare/         preparing (locked by the preparer) or aborted prepare (unlocked)
//	prepared/        prepared (unlocked)
//	run/             running (locked by stage1, RKT_LOCK_FD) or exited (unlocked)
//	exited-garbage/  exited garbage, or exited deleting (locked by a gc)
//	garbage/         garbage, or deleting (locked by a gc)
//
// The package also reads what stage1 leaves in a pod directory (manifest,
// creation and start times, PID, per-app exit codes) and implements the
// mark-and-sweep of rkt gc and the immediate removal of rkt rm, through
// hooks that stage0 provides (the stage1 gc entrypoint) and a deletion that
// never crosses a mount (internal/rootfs.RemoveAll, SECURITY.md rule 10).
//
// It must not fetch images, configure networks or exec anything: stage0
// does that, using the lock file descriptor ToRun returns.
package pod
