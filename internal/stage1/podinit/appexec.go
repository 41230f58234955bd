package podinit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall" //nolint:depguard // syscall.Credential: the type of unix.SysProcAttr.Credential, which x/sys/unix does not re-export

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"

	"github.com/rkt/rkt/internal/covflush"
	"github.com/rkt/rkt/internal/isolation/mount"
)

// ExitExecFailed is the exit code of an app whose executable could not be
// started (missing file, missing ELF interpreter, not executable): the
// shell's "command not found" code. rkt's systemd stage1 used 203.
const ExitExecFailed = 127

// ExitSetupFailed is the exit code of an app whose environment could not
// be set up before the exec (rootfs, working directory, credentials).
const ExitSetupFailed = 254

// startApp starts one app and returns its PID (in the pod's PID
// namespace). The work runs on a goroutine locked to a fresh OS thread that
// never returns to the Go scheduler: the thread unshares its mount
// namespace (a copy of pod init's), pivots into the app's rootfs, enters
// the working directory there, and forks the app from that state. The
// child, and so the app, inherits the thread's namespaces, root and
// working directory; pod init's other threads are untouched. The thread
// exits with the goroutine. No helper process, and no second Go runtime,
// starts per app.
//
// The app's pidfd is returned too (or -1), for its PID in the host's PID
// namespace.
//
// An app that cannot be started gets an exit code (ExitSetupFailed,
// ExitExecFailed) and a message on stderr, as its own exit would.
func startApp(spec ExecSpec, sec Security, cg appCgroup, us *userns, stdin *os.File) (pid, pidfd, code int) {
	type result struct{ pid, pidfd, code int }
	done := make(chan result, 1)
	onSpareThread(func() {
		pid, pidfd, code := startInThread(spec, sec, cg, us, stdin)
		done <- result{pid, pidfd, code}
	})
	r := <-done
	return r.pid, r.pidfd, r.code
}

func startInThread(spec ExecSpec, sec Security, cg appCgroup, us *userns, stdin *os.File) (pid, pidfd, code int) {
	pidfd = -1
	// cgroup v1: this thread joins the app's cgroups, so what it forks
	// starts there (v2 moves all of pod init instead: see startApps).
	if cg.version == 1 {
		for _, d := range cg.dirs {
			if err := os.WriteFile(d+"/tasks", []byte("0"), 0); err != nil {
				fmt.Fprintf(os.Stderr, "Error: app %q: joining its cgroup: %v\n", spec.App, err)
				return 0, -1, ExitSetupFailed
			}
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: mount namespace: %v\n", spec.App, err)
		return 0, -1, ExitSetupFailed
	}
	if err := mount.PivotRoot(spec.Rootfs); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
		return 0, -1, ExitSetupFailed
	}
	if !spec.Interactive {
		// Pod init's /dev/null is the host's, unreachable from the app's
		// root: give the app its own (a bind of it), so that
		// /proc/self/fd/0 reads /dev/null.
		null, err := openDevNull()
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: app %q: stdin: %v\n", spec.App, err)
			return 0, -1, ExitSetupFailed
		}
		defer null.Close()
		stdin = null
	}
	if err := enterWorkingDir(spec.WorkingDir); err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to change to working directory %q: %s\n", spec.WorkingDir, errText(err))
		return 0, -1, ExitSetupFailed
	}
	prog, err := LookPath(spec.Argv[0], spec.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %s\n", spec.Argv[0], errText(err))
		return 0, -1, ExitExecFailed
	}
	if us != nil {
		// The app gets a user namespace of its own with the pod's
		// mapping; a child born in it has every capability there, so the
		// limits are set by a helper (AppExecMain) in it, then the app.
		spec.Argv = append([]string{prog}, spec.Argv[1:]...)
		pid, pidfd, err := ForkHelper(HelperSpec{Exec: spec, Security: sec}, us.shift, us.size, stdin.Fd())
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: app %q: starting in its user namespace: %v\n", spec.App, err)
			return 0, -1, ExitSetupFailed
		}
		return pid, pidfd, 0
	}
	groups := make([]uint32, len(spec.SupplementaryGIDs))
	for i, g := range spec.SupplementaryGIDs {
		groups[i] = uint32(g) //nolint:gosec // PlanApp checked 0 <= g < 2^31-1
	}
	// Last, now that nothing more needs privileges: limit what the thread
	// passes on. The child still has the capabilities to set its
	// credentials; the exec then gives the app the bounding set (root) or
	// nothing (other users).
	if err := sec.LimitThread(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
		return 0, -1, ExitSetupFailed
	}
	// The filter last: from here the thread makes only seccomp.Startup
	// calls, which every filter allows.
	if err := sec.InstallSeccomp(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
		return 0, -1, ExitSetupFailed
	}
	// Every fd but 0, 1 and 2 is closed by the exec (SECURITY rule 3):
	// pod init marked all it inherited close-on-exec, and Go opens its
	// own so. syscall.ForkExec rather than os.StartProcess: os probes
	// pidfd support with a throwaway fork the first time, and we make
	// our own pidfd anyway.
	pid, err = syscall.ForkExec(prog, spec.Argv, &syscall.ProcAttr{ //nolint:gosec // G204: the app, inside its own root, is what we start
		Env:   spec.Env,
		Files: []uintptr{stdin.Fd(), 1, 2},
		Sys: &unix.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(spec.UID), Gid: uint32(spec.GID), Groups: groups}, //nolint:gosec // numericID checked both
			Setsid:     spec.Interactive,
			Setctty:    spec.Interactive,
			Ctty:       0,
			PidFD:      &pidfd,
		},
	})
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) && (errno == unix.EPERM || errno == unix.EINVAL) {
			fmt.Fprintf(os.Stderr, "Error: app %q: setting uid %d, gid %d, groups %v: %s\n", spec.App, spec.UID, spec.GID, spec.SupplementaryGIDs, errText(errno))
			return 0, -1, ExitSetupFailed
		}
		fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %s\n", prog, execDiagnostic(prog, err))
		return 0, -1, ExitExecFailed
	}
	return pid, pidfd, 0
}

// RoleAppExec is the hidden first argument of the helper that starts an
// app (or an entered command) inside a user namespace of its own.
const RoleAppExec = "__rkt-stage1-app-exec"

// HelperSpec is what the helper gets, as JSON on ConfigFD: the
// command (Argv[0] already resolved) and its limits.
type HelperSpec struct {
	Exec     ExecSpec `json:"exec"`
	Security Security `json:"security"`
}

// ForkHelper starts the helper in a new user namespace mapping 0..size-1
// to the host's shift..: the calling thread's root, directory, namespaces
// and cgroups are the command's. The helper is /proc/self/exe (the stage1
// binary, as the calling process sees it).
func ForkHelper(hs HelperSpec, shift, size uint32, stdin uintptr) (pid, pidfd int, err error) {
	js, err := json.Marshal(hs)
	if err != nil {
		return 0, -1, err
	}
	cfg, err := ConfigFile("rkt-app-exec-spec", js)
	if err != nil {
		return 0, -1, err
	}
	defer unix.Close(cfg)
	maps := idMaps(shift, size)
	pidfd = -1
	pid, err = syscall.ForkExec("/proc/self/exe", []string{"stage1-app-exec", RoleAppExec}, &syscall.ProcAttr{ //nolint:gosec // G204: ourselves
		Env:   abi.HelperEnv(),
		Files: []uintptr{stdin, 1, 2, uintptr(cfg)}, // ConfigFD: 3
		Sys: &unix.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER, UidMappings: maps, GidMappings: maps,
			GidMappingsEnableSetgroups: true,
			// The child keeps our host IDs, unmapped in its namespace:
			// it becomes the namespace's root before it execs.
			Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
			Setsid:     hs.Exec.Interactive,
			Setctty:    hs.Exec.Interactive,
			Ctty:       0,
			PidFD:      &pidfd,
		},
	})
	return pid, pidfd, err
}

// RoleEnterChild is the hidden first argument of the process that rkt
// enter starts inside the pod's PID namespace when the app has a user
// namespace (the EnterSpec, Argv set, on ConfigFD): it starts the helper
// there (Go writes the new namespace's ID maps through /proc/<pid>, which
// must be the pod's procfs) and passes on its exit code.
const RoleEnterChild = "__rkt-stage1-enter-child"

// EnterChildMain is RoleEnterChild.
func EnterChildMain(args []string) int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var es EnterSpec
	if len(args) != 0 {
		fmt.Fprintln(os.Stderr, "stage1: enter: want no argument (the specification comes on fd 3)")
		return ExitSetupFailed
	}
	if err := ReadConfig(ConfigFD, &es); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: enter: %v\n", err)
		return ExitSetupFailed
	}
	pid, pidfd, err := ForkHelper(es.HelperSpec, es.UsernsShift, es.UsernsSize, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stage1: enter: starting in the app's user namespace: %v\n", err)
		return ExitSetupFailed
	}
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	ws, err := Wait(pid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stage1: enter: %v\n", err)
		return ExitSetupFailed
	}
	return ExitCode(ws)
}

// AppExecMain is the helper (RoleAppExec): root with every capability of
// its new user namespace, in the app's root and directory. On this one
// thread, which execs: the bounding set and no_new_privs, the credentials,
// the seccomp filter, then the command.
func AppExecMain(args []string) int {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	if len(args) != 0 {
		fmt.Fprintln(os.Stderr, "stage1: app-exec: want no argument (the specification comes on fd 3)")
		return ExitSetupFailed
	}
	var hs HelperSpec
	if err := ReadConfig(ConfigFD, &hs); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: app-exec: %v\n", err)
		return ExitSetupFailed
	}
	spec, sec := hs.Exec, hs.Security
	if err := sec.LimitThread(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
		return ExitSetupFailed
	}
	groups := spec.SupplementaryGIDs
	if groups == nil {
		groups = []int{}
	}
	if err := unix.Setgroups(groups); err != nil {
		fmt.Fprintf(os.Stderr, "Error: setgroups %v: %s\n", groups, errText(err))
		return ExitSetupFailed
	}
	if err := unix.Setgid(spec.GID); err != nil {
		fmt.Fprintf(os.Stderr, "Error: setgid %d: %s\n", spec.GID, errText(err))
		return ExitSetupFailed
	}
	if err := unix.Setuid(spec.UID); err != nil {
		fmt.Fprintf(os.Stderr, "Error: setuid %d: %s\n", spec.UID, errText(err))
		return ExitSetupFailed
	}
	if err := sec.InstallSeccomp(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
		return ExitSetupFailed
	}
	// Every fd but 0, 1 and 2 is closed by the exec (SECURITY rule 3).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintf(os.Stderr, "Error: close_range: %s\n", errText(err))
		return ExitSetupFailed
	}
	covflush.BeforeExec()
	err := unix.Exec(spec.Argv[0], spec.Argv, spec.Env)
	fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %s\n", spec.Argv[0], execDiagnostic(spec.Argv[0], err))
	return ExitExecFailed
}

// openDevNull opens the (pivoted) root's /dev/null, checking that it is
// the null device.
func openDevNull() (*os.File, error) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		unix.Close(fd)
		return nil, errors.New("/dev/null is not the null device")
	}
	return os.NewFile(uintptr(fd), "/dev/null"), nil
}

// enterWorkingDir changes to dir, resolved inside the (pivoted) root
// without magic links, creating it when the image lacks it (as docker
// does).
func enterWorkingDir(dir string) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := mount.EnsureDir(root, dir, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fchdir(fd)
}

// execDiagnostic explains a failed execve of prog: a file that exists but
// gives ENOENT lacks its ELF interpreter.
func execDiagnostic(prog string, err error) string {
	msg := errText(err)
	if !errors.Is(err, unix.ENOENT) {
		return msg
	}
	f, oerr := os.Open(prog)
	if oerr != nil {
		return msg
	}
	defer f.Close()
	if interp, ok := elfInterp(f); ok {
		return fmt.Sprintf("%s (its ELF interpreter %q is missing)", msg, interp)
	}
	return msg
}

// elfInterp returns the PT_INTERP path of an ELF file (32 or 64 bits,
// either byte order), and whether it has one. It replaces debug/elf, which
// would double the stage1 binary's dependencies for one error message.
func elfInterp(r io.ReaderAt) (string, bool) {
	var id [16]byte
	if _, err := r.ReadAt(id[:], 0); err != nil || string(id[:4]) != "\x7fELF" {
		return "", false
	}
	var bo binary.ByteOrder
	switch id[5] { // EI_DATA
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return "", false
	}
	const ptInterp = 3
	var phoff, phentsize, phnum uint64
	var hdr [64]byte
	switch id[4] { // EI_CLASS
	case 1: // 32 bits: e_phoff at 28, e_phentsize at 42, e_phnum at 44
		if _, err := r.ReadAt(hdr[:52], 0); err != nil {
			return "", false
		}
		phoff, phentsize, phnum = uint64(bo.Uint32(hdr[28:])), uint64(bo.Uint16(hdr[42:])), uint64(bo.Uint16(hdr[44:]))
		if phentsize < 32 {
			return "", false
		}
	case 2: // 64 bits: e_phoff at 32, e_phentsize at 54, e_phnum at 56
		if _, err := r.ReadAt(hdr[:64], 0); err != nil {
			return "", false
		}
		phoff, phentsize, phnum = bo.Uint64(hdr[32:]), uint64(bo.Uint16(hdr[54:])), uint64(bo.Uint16(hdr[56:]))
		if phentsize < 56 {
			return "", false
		}
	default:
		return "", false
	}
	for i := uint64(0); i < phnum && i < 1024; i++ {
		var ph [56]byte
		n := 32
		if id[4] == 2 {
			n = 56
		}
		off := phoff + i*phentsize
		if off > 1<<62 {
			return "", false
		}
		if _, err := r.ReadAt(ph[:n], int64(off)); err != nil {
			return "", false
		}
		if bo.Uint32(ph[0:]) != ptInterp {
			continue
		}
		var pOff, pSize uint64
		if id[4] == 1 { // p_offset at 4, p_filesz at 16
			pOff, pSize = uint64(bo.Uint32(ph[4:])), uint64(bo.Uint32(ph[16:]))
		} else { // p_offset at 8, p_filesz at 32
			pOff, pSize = bo.Uint64(ph[8:]), bo.Uint64(ph[32:])
		}
		if pOff > 1<<62 {
			return "", false
		}
		b := make([]byte, min(pSize, 4096))
		n2, err := r.ReadAt(b, int64(pOff))
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false
		}
		return strings.TrimRight(string(b[:n2]), "\x00"), true
	}
	return "", false
}

// LookPath resolves a command without a slash through the PATH of env
// (DefaultPath when env has none; the last PATH= wins), inside the
// (already pivoted) root, as docker does: the first entry holding an
// executable that is not a directory. An empty entry (a leading, trailing
// or doubled ':') is the current directory, as POSIX and execvp(3) have
// it: an app's working directory, "/" for an entered command. A command
// found nowhere is ENOENT. A command with a slash is returned as it is.
// It is the one lookup of an app's command and of an entered one.
func LookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		cand := dir + "/" + name
		var st unix.Stat_t
		if unix.Stat(cand, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Mode&0o111 != 0 {
			return cand, nil
		}
	}
	return "", unix.ENOENT
}

// errText renders an errno like strerror(3): "No such file or directory".
func errText(err error) string {
	var errno unix.Errno
	s := err.Error()
	if errors.As(err, &errno) {
		s = errno.Error()
	}
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}
