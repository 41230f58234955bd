package ns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/rkt/rkt/internal/stage1/podinit"
)

// Exit code of the stage1 entrypoints for their own failures (rkt's 254).
const exitFailure = 254

// Main runs the stage1-ns binary. The role is chosen by, in order:
//   - a hidden first argument (podinit.RoleUsernsHold, RoleAppExec,
//     RoleEnterChild), used only when the binary re-executes itself;
//   - the base name of argv[0] (run, init, enter, stop, gc, pod-init),
//     for stage1 images whose entrypoint annotations name symlinks to
//     this binary;
//   - an explicit first argument (stage1-ns run ...).
func Main(argv []string) int {
	// Every role is sequential system calls and waiting: one P is enough,
	// and each P costs the processes that wait as long as the pod lives
	// (the run process and pod init) its own cache of heap spans.
	runtime.GOMAXPROCS(1)
	if len(argv) > 1 {
		switch argv[1] {
		case podinit.RoleUsernsHold:
			return podinit.UsernsHoldMain()
		case podinit.RoleAppExec:
			return podinit.AppExecMain(argv[2:])
		case podinit.RoleEnterChild:
			return podinit.EnterChildMain(argv[2:])
		}
	}
	if len(argv) == 0 {
		return usage()
	}
	if rc, ok := dispatch(filepath.Base(argv[0]), argv[1:]); ok {
		return rc
	}
	if len(argv) > 1 {
		if rc, ok := dispatch(argv[1], argv[2:]); ok {
			return rc
		}
	}
	return usage()
}

func dispatch(name string, args []string) (int, bool) {
	switch name {
	case "run", "init":
		return Run(args), true
	case "pod-init":
		// The pod's PID 1, started by stage0 (abi.AnnotationPodInit) or
		// by the run entrypoint.
		return podinit.PodInitMain(args), true
	case "enter":
		return Enter(args), true
	case "stop":
		return Stop(args), true
	case "gc":
		return GC(args), true
	}
	return 0, false
}

func usage() int {
	fmt.Fprintln(os.Stderr, "stage1-ns: usage: stage1-ns run|enter|stop|gc ARGS... (or invoke through a symlink of that name)")
	return exitFailure
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "stage1: "+format+"\n", args...)
	return exitFailure
}
