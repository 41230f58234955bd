package podinit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall" //nolint:depguard // syscall.Credential: the type of unix.SysProcAttr.Credential, which x/sys/unix does not re-export

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/caps"
	"github.com/rkt/rkt/internal/isolation/mount"
	"github.com/rkt/rkt/internal/isolation/seccomp"
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
func startApp(spec ExecSpec, sec Security, cg appCgroup, stdin *os.File) (pid, pidfd, code int) {
	type result struct{ pid, pidfd, code int }
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		pid, pidfd, code := startInThread(spec, sec, cg, stdin)
		done <- result{pid, pidfd, code}
	}()
	r := <-done
	return r.pid, r.pidfd, r.code
}

func startInThread(spec ExecSpec, sec Security, cg appCgroup, stdin *os.File) (pid, pidfd, code int) {
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
	prog, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %s\n", spec.Argv[0], errText(err))
		return 0, -1, ExitExecFailed
	}
	groups := make([]uint32, len(spec.SupplementaryGIDs))
	for i, g := range spec.SupplementaryGIDs {
		groups[i] = uint32(g) //nolint:gosec // PlanApp checked 0 <= g < 2^31-1
	}
	// Last, now that nothing more needs privileges: limit what the thread
	// passes on. The child still has the capabilities to set its
	// credentials; the exec then gives the app the bounding set (root) or
	// nothing (other users).
	if !sec.AllCaps {
		if err := caps.LimitThread(sec.Bounding, caps.LastCap()); err != nil {
			fmt.Fprintf(os.Stderr, "Error: app %q: capabilities: %v\n", spec.App, err)
			return 0, -1, ExitSetupFailed
		}
	}
	if sec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fmt.Fprintf(os.Stderr, "Error: app %q: no_new_privs: %v\n", spec.App, err)
			return 0, -1, ExitSetupFailed
		}
	}
	// The filter last: from here the thread makes only seccomp.Startup
	// calls, which every filter allows.
	if sec.Seccomp != nil {
		prog, err := sec.SeccompProgram()
		if err == nil {
			err = seccomp.Install(prog)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
			return 0, -1, ExitSetupFailed
		}
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

// lookPath resolves a command without a slash through the PATH of env,
// inside the (already pivoted) root, as docker does.
func lookPath(name string, env []string) (string, error) {
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
