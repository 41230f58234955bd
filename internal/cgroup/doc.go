// Package cgroup owns the pods' cgroups on the host: their layout (a pod
// cgroup machine.slice/machine-rkt-<uuid>.scope in every hierarchy, with
// an "init" child for rkt's own processes and one child per app), the
// resource limits and device rules of each app, written through
// github.com/opencontainers/cgroups (its v1 and v2 file system managers),
// and killing and removing a pod's cgroups. It works on cgroup v1 (also
// hybrid hosts) and on a pure cgroup v2 host.
//
// stage0 creates the cgroups before it execs the stage1 run entrypoint and
// records the layout in the pod directory (Layout, file "cgroups"); the
// stage1 flavor only places each app's process in its cgroup with plain
// file writes: on v1 the app's tasks, on v2 pod init moves itself into
// the app's cgroup for the fork and back (clone3's CLONE_INTO_CGROUP is
// blocked by the app's seccomp filter), so the stage1 binary does not
// link this package.
package cgroup
