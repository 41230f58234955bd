package abi

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall" //nolint:depguard // syscall.ForkExec: x/sys/unix has no fork-and-exec

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
// working directory, its own stdin, stdout and stderr and fd 3 the read
// end of a pipe, in the new namespaces of PodNamespaces, with SIGKILL as
// its parent-death signal and no environment but GOMAXPROCS=1 (and
// GOCOVERDIR when set). The name's version is that of these descriptors
// and of EnvPodInit's value: the first also gave pod init a socket on fd
// 4, and a stage0 and a stage1 image that know different versions leave
// pod init to the run entrypoint.
const AnnotationPodInit = "rkt.dev/stage1/pod-init-v2"

// EnvPodInit tells the run entrypoint of the pod init stage0 started
// (PodInit.String).
const EnvPodInit = "RKT_STAGE1_POD_INIT"

// PodInit is a started pod init and its starter's end of its pipe
// (StartPodInit): stage0's, passed on in EnvPodInit, or the run
// entrypoint's own.
type PodInit struct {
	// PID is its host PID: a child of the run entrypoint's process.
	PID int
	// ConfigFD is the write end of the pipe that is pod init's fd 3.
	ConfigFD int
	// CloneFlags are the namespaces it was born in.
	CloneFlags uintptr
}

// String is the value of EnvPodInit: "PID,CONFIGFD,FLAGS".
func (e PodInit) String() string {
	return fmt.Sprintf("%d,%d,%d", e.PID, e.ConfigFD, e.CloneFlags)
}

// Abandon is for a starter that will not use its pod init: it kills and
// reaps it, and closes the starter's end of its pipe.
func (e PodInit) Abandon() {
	_ = unix.Kill(e.PID, unix.SIGKILL)
	for {
		if _, err := unix.Wait4(e.PID, nil, 0, nil); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	unix.Close(e.ConfigFD)
}

// ParsePodInit reads EnvPodInit's value.
func ParsePodInit(v string) (PodInit, error) {
	f := strings.Split(v, ",")
	if len(f) != 3 {
		return PodInit{}, fmt.Errorf("%s=%q: want PID,CONFIGFD,FLAGS", EnvPodInit, v)
	}
	var n [2]int
	for i, x := range f[:2] {
		num, err := strconv.Atoi(x)
		if err != nil || num <= 0 || num > 1<<31-1 {
			return PodInit{}, fmt.Errorf("%s=%q: field %d is not a valid number", EnvPodInit, v, i+1)
		}
		n[i] = num
	}
	flags, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return PodInit{}, fmt.Errorf("%s=%q: field 3 is not a valid number", EnvPodInit, v)
	}
	return PodInit{PID: n[0], ConfigFD: n[1], CloneFlags: uintptr(flags)}, nil
}

// PodNamespaces returns the namespaces a pod's PID 1 is born in, for the
// run entrypoint's --net and --ipc values (PodCloneFlags). It returns
// false where the PID 1 cannot be started before the run entrypoint runs:
// with CNI networks (it is born in the network namespace the run
// entrypoint makes), and for values the run entrypoint refuses.
func PodNamespaces(net, ipc string) (uintptr, bool) {
	reqs, err := ParseNets([]string{net})
	if err != nil {
		return 0, false
	}
	mode := NetsMode(reqs)
	if mode != NetHost && mode != NetNone {
		return 0, false
	}
	flags, err := PodCloneFlags(mode, ipc)
	return flags, err == nil
}

// PodCloneFlags returns the clone flags of a pod's PID 1 for its network
// mode (NetsMode) and --ipc value: a new mount, PID and UTS namespace,
// IPC unless --ipc=parent, and network with --net=none (CNI networks
// attach pod init to the namespace the run entrypoint makes for them).
func PodCloneFlags(mode, ipc string) (uintptr, error) {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS)
	if mode == NetNone {
		flags |= unix.CLONE_NEWNET
	}
	switch ipc {
	case "", "auto", "private":
		flags |= unix.CLONE_NEWIPC
	case "parent":
	default:
		return 0, fmt.Errorf("invalid --ipc %q", ipc)
	}
	return flags, nil
}

// HelperEnv is the environment of the stage1 processes started from a
// stage1 binary (pod init, the helpers): one Go P, and GOCOVERDIR when
// set, so that a coverage build (scripts/cover.sh) counts them too.
func HelperEnv() []string {
	env := []string{"GOMAXPROCS=1"}
	if d := os.Getenv("GOCOVERDIR"); d != "" {
		env = append(env, "GOCOVERDIR="+d)
	}
	return env
}

// StartPodInit starts pod init as AnnotationPodInit says, for stage0 and
// the run entrypoint alike: the program at path with argv (argv[0] is not
// the host path: the apps read it in /proc/1/cmdline), in the caller's
// working directory, with its stdin, stdout and stderr and fd 3 the read
// end of a new pipe, born in the namespaces flags gives, with SIGKILL as
// its parent-death signal (the caller's thread must stay, locked, or
// exec) and HelperEnv. The caller's end, close-on-exec, is in the
// PodInit. syscall.ForkExec
// rather than os.StartProcess: os probes pidfd support with a throwaway
// fork on first use.
func StartPodInit(path string, argv []string, flags uintptr) (PodInit, error) {
	var cfg [2]int
	if err := unix.Pipe2(cfg[:], unix.O_CLOEXEC); err != nil {
		return PodInit{}, fmt.Errorf("pod init: configuration pipe: %w", err)
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{ //nolint:gosec // G204: the stage1's own pod init
		Env:   HelperEnv(),
		Files: []uintptr{0, 1, 2, uintptr(cfg[0])},
		Sys:   &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL},
	})
	unix.Close(cfg[0])
	if err != nil {
		unix.Close(cfg[1])
		return PodInit{}, fmt.Errorf("starting pod init %s: %w", path, err)
	}
	return PodInit{PID: pid, ConfigFD: cfg[1], CloneFlags: flags}, nil
}
