package podinit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
)

// ExitExecFailed is the exit code of an app whose executable could not be
// started (missing file, missing ELF interpreter, not executable): the
// shell's "command not found" code. rkt's systemd stage1 used 203.
const ExitExecFailed = 127

// ExitSetupFailed is the exit code of an app whose environment could not
// be set up before the exec (rootfs, working directory, credentials).
const ExitSetupFailed = 254

// AppExecMain is the app-exec helper role: it runs in the app's own mount
// namespace (a copy of pod init's), pivots into the app rootfs, drops to the
// app's credentials and execs the app. args is [ExecSpec as JSON].
func AppExecMain(args []string) int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "stage1: app-exec: want one argument")
		return ExitSetupFailed
	}
	var spec ExecSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: app-exec: %v\n", err)
		return ExitSetupFailed
	}
	if err := mount.PivotRoot(spec.Rootfs); err != nil {
		fmt.Fprintf(os.Stderr, "Error: app %q: %v\n", spec.App, err)
		return ExitSetupFailed
	}
	if !spec.Interactive {
		// Pod init's /dev/null is the host's, unreachable from the app's
		// root: take the app's own (a bind of it) so that
		// /proc/self/fd/0 reads /dev/null.
		if err := devNullStdin(); err != nil {
			fmt.Fprintf(os.Stderr, "Error: app %q: stdin: %v\n", spec.App, err)
			return ExitSetupFailed
		}
	}
	if err := enterWorkingDir(spec.WorkingDir); err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to change to working directory %q: %s\n", spec.WorkingDir, errText(err))
		return ExitSetupFailed
	}
	prog, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %s\n", spec.Argv[0], errText(err))
		return ExitExecFailed
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
	// Every fd but 0, 1 and 2 is closed by the exec (SECURITY rule 3).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintf(os.Stderr, "Error: close_range: %s\n", errText(err))
		return ExitSetupFailed
	}
	err = unix.Exec(prog, spec.Argv, spec.Env)
	fmt.Fprintf(os.Stderr, "Error: Unable to open %q: %s\n", prog, execDiagnostic(prog, err))
	return ExitExecFailed
}

// devNullStdin makes fd 0 the app root's /dev/null, checking that it is
// the null device.
func devNullStdin() error {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return errors.New("/dev/null is not the null device")
	}
	return unix.Dup3(fd, 0, 0)
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
