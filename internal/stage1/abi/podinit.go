package abi

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// AnnotationPodInit names, in a stage1 image manifest, the entrypoint of
// the pod's PID 1 when stage0 starts it itself, just before it execs the
// run entrypoint: its start (a Go runtime, about 1 ms here) then overlaps
// the exec and the run entrypoint's own start. It is rkt's extension of
// the stage1 interface, which rkt 1.x did not have: stage0 starts pod
// init only for a stage1 image that names this entrypoint, and only for
// pods whose namespaces PodNamespaces gives; the run entrypoint of such an
// image takes the pod init it is told of (EnvPodInit), or starts its own
// when it is told of none.
//
// stage0 execs the entrypoint with no argument, the pod directory as
// working directory, its own stdin, stdout and stderr, fd 3 the read end
// of a pipe and fd 4 one end of a SOCK_SEQPACKET socket pair, in the new
// namespaces of PodNamespaces, with SIGKILL as its parent-death signal
// and no environment but GOMAXPROCS=1 (and GOCOVERDIR when set).
const AnnotationPodInit = "rkt.dev/stage1/pod-init"

// EnvPodInit tells the run entrypoint of the pod init stage0 started
// (EarlyPodInit.String).
const EnvPodInit = "RKT_STAGE1_POD_INIT"

// EarlyPodInit is a pod init stage0 started (AnnotationPodInit).
type EarlyPodInit struct {
	// PID is its host PID: a child of the run entrypoint's process.
	PID int
	// ConfigFD is the write end of the pipe that is pod init's fd 3.
	ConfigFD int
	// MountsFD is the other end of the socket that is pod init's fd 4.
	MountsFD int
	// CloneFlags are the namespaces it was born in.
	CloneFlags uintptr
}

// String is the value of EnvPodInit: "PID,CONFIGFD,MOUNTSFD,FLAGS".
func (e EarlyPodInit) String() string {
	return fmt.Sprintf("%d,%d,%d,%d", e.PID, e.ConfigFD, e.MountsFD, e.CloneFlags)
}

// ParseEarlyPodInit reads EnvPodInit's value.
func ParseEarlyPodInit(v string) (EarlyPodInit, error) {
	f := strings.Split(v, ",")
	if len(f) != 4 {
		return EarlyPodInit{}, fmt.Errorf("%s=%q: want PID,CONFIGFD,MOUNTSFD,FLAGS", EnvPodInit, v)
	}
	var n [3]int
	for i, x := range f[:3] {
		num, err := strconv.Atoi(x)
		if err != nil || num <= 0 || num > 1<<31-1 {
			return EarlyPodInit{}, fmt.Errorf("%s=%q: field %d is not a valid number", EnvPodInit, v, i+1)
		}
		n[i] = num
	}
	flags, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return EarlyPodInit{}, fmt.Errorf("%s=%q: field 4 is not a valid number", EnvPodInit, v)
	}
	return EarlyPodInit{PID: n[0], ConfigFD: n[1], MountsFD: n[2], CloneFlags: uintptr(flags)}, nil
}

// PodNamespaces returns the namespaces a pod's PID 1 is born in, for the
// run entrypoint's --net and --ipc values: a new mount, PID and UTS
// namespace, IPC unless --ipc=parent, and network with --net=none. It
// returns false where the PID 1 cannot be started before the run
// entrypoint runs: with CNI networks (it is born in the network namespace
// the run entrypoint makes), and for values the run entrypoint refuses.
func PodNamespaces(net, ipc string) (uintptr, bool) {
	reqs, err := ParseNets([]string{net})
	if err != nil {
		return 0, false
	}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS)
	switch NetsMode(reqs) {
	case NetHost:
	case NetNone:
		flags |= unix.CLONE_NEWNET
	default:
		return 0, false
	}
	switch ipc {
	case "", "auto", "private":
		flags |= unix.CLONE_NEWIPC
	case "parent":
	default:
		return 0, false
	}
	return flags, true
}
