// Package layout is where a pod's cgroups are: the Layout record stage0
// writes into the pod directory (file "cgroups") when it creates them
// (package cgroup), which the stage1 flavor reads to place each app's
// process. It depends only on internal/stage1/abi (the rule of an app's
// name), so stage1 can use it without linking the cgroup library.
package layout
