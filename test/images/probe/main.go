// Command probe reports what an app sees of its own isolation, one
// key=value line per fact, for the end-to-end tests of rkt's isolation:
// capability sets, no_new_privs, seccomp mode, credentials and ID maps,
// whether privileged operations are refused (and with which errno), what
// masked and read-only paths give, the cgroups and the open fds.
//
// It is built static (CGO_ENABLED=0) and packed into test images. With the
// argument "child" it only exits 0: the user namespace check starts it in a
// new user namespace.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall" //nolint:depguard // exec.Cmd.SysProcAttr is a *syscall.SysProcAttr

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "try" {
		fmt.Print(errResult(try(os.Args[2])))
		return
	}
	// It tries mount and mknod for real: only inside an app.
	if os.Getenv("AC_APP_NAME") == "" {
		fmt.Fprintln(os.Stderr, "probe: AC_APP_NAME is not set: run me as an app of a pod")
		os.Exit(2)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid", "Groups":
			fmt.Printf("%s=%s\n", strings.ToLower(k), strings.Join(strings.Fields(v), " "))
		}
	}
	for _, f := range []string{"uid_map", "gid_map", "oom_score_adj", "cgroup"} {
		b, err := os.ReadFile("/proc/self/" + f)
		fmt.Printf("%s=%s\n", f, result(strings.Join(strings.Fields(string(b)), " "), err))
	}

	// Each refusal is tried in a child of ours: a seccomp filter may kill
	// it (SIGSYS) rather than fail the call.
	for _, op := range []string{"mount", "unshare_user", "keyctl", "ptrace", "mknod", "x32_getpid", "x32_keyctl"} {
		fmt.Printf("%s=%s\n", op, tryInChild(op))
	}

	for _, p := range []string{"/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/interrupts"} {
		b, err := os.ReadFile(p)
		fmt.Printf("read:%s=%s\n", p, result(fmt.Sprintf("%d bytes", len(b)), err))
	}
	for _, p := range []string{"/sys/firmware", "/proc/acpi", "/proc/scsi"} {
		ents, err := os.ReadDir(p)
		fmt.Printf("list:%s=%s\n", p, result(fmt.Sprintf("%d entries", len(ents)), err))
	}
	for _, p := range []string{"/proc/sys/kernel/domainname", "/proc/sysrq-trigger", "/proc/irq/default_smp_affinity"} {
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0) // opened, never written
		if err == nil {
			unix.Close(fd)
		}
		fmt.Printf("write:%s=%s\n", p, errResult(err))
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, e.Name()+":"+target)
	}
	sort.Strings(fds)
	fmt.Printf("fds=%s\n", strings.Join(fds, " "))
}

// try performs one privileged operation.
func try(op string) error {
	switch op {
	case "mount":
		const mnt = "/probe-mnt"
		_ = os.Mkdir(mnt, 0o750)
		err := unix.Mount("none", mnt, "tmpfs", 0, "")
		if err == nil {
			_ = unix.Unmount(mnt, 0)
		}
		return err
	case "unshare_user":
		cmd := exec.CommandContext(context.Background(), "/proc/self/exe", "child")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}
		return cmd.Run()
	case "keyctl":
		_, err := unix.KeyctlJoinSessionKeyring("probe")
		return err
	case "ptrace":
		// PTRACE_SEIZE does not stop pod init; our exit detaches it.
		return unix.PtraceSeize(1)
	case "mknod":
		err := unix.Mknod("/probe-null", unix.S_IFCHR|0o600, 0x103) // makedev(1, 3): /dev/null
		if err == nil {
			_ = os.Remove("/probe-null")
		}
		return err
	case "x32_getpid", "x32_keyctl":
		// The x32 entry point: the system call number with bit 30 set
		// (getpid is 39, keyctl 250 there). Kernels without x32 answer
		// ENOSYS; a filter must still see and judge them.
		nr := uintptr(0x40000000 + 39)
		if op == "x32_keyctl" {
			nr = 0x40000000 + 250
		}
		_, _, errno := unix.RawSyscall(nr, 0, 0, 0)
		if errno != 0 {
			return errno
		}
		return nil
	}
	return fmt.Errorf("unknown operation %q", op)
}

// tryInChild runs try(op) in a new process and reports its result, or
// the signal that killed it (SIGSYS for a seccomp kill).
func tryInChild(op string) string {
	cmd := exec.CommandContext(context.Background(), "/proc/self/exe", "try", op) //nolint:gosec // G204: op is one of our own operation names
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return unix.SignalName(ws.Signal())
		}
	}
	if err != nil {
		return err.Error()
	}
	return string(out)
}

func result(ok string, err error) string {
	if err != nil {
		return errResult(err)
	}
	return ok
}

// errResult is "ok" or the errno's name (EPERM), else the error text.
func errResult(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}
