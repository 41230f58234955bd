// Command gochain is the floor of rkt's process shape, for the benchmark
// suite: three Go programs that do nothing but chain, as rkt's start does.
// The first (stage0's place) execs itself again (the stage1 run
// entrypoint's place); that one starts the third (pod init's place) in new
// mount, PID, UTS and IPC namespaces and waits for it; the third runs the
// app chrooted into ROOTFS and exits with its status.
//
//	gochain ROOTFS CMD [ARG...]
//
// What rkt spends above this chain is its own work: the pod directory, the
// pod manifest, cgroups, the app's mounts, its isolation. What the chain
// spends above crun's whole start is the price of three Go runtimes.
package main

import (
	"errors"
	"fmt"
	"os"
	"syscall" //nolint:depguard // syscall.SysProcAttr: the type os/exec takes

	"golang.org/x/sys/unix"
)

// role is the environment variable that tells a re-executed gochain which
// link of the chain it is.
const role = "GOCHAIN_ROLE"

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gochain ROOTFS CMD [ARG...]")
		os.Exit(2)
	}
	var err error
	switch os.Getenv(role) {
	case "":
		err = front()
	case "run":
		err = run()
	case "init":
		err = podInit(os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown %s %q", role, os.Getenv(role))
	}
	var ee exitError
	if errors.As(err, &ee) {
		os.Exit(int(ee))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gochain:", err)
		os.Exit(254)
	}
}

// front execs this program again as the run process, same PID.
func front() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return unix.Exec(self, os.Args, append(os.Environ(), role+"=run"))
}

// run starts pod init in new namespaces and exits with its status.
func run() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{"gochain-init"}, os.Args[1:]...)
	return start(self, argv, &os.ProcAttr{
		Env: []string{role + "=init"},
		Sys: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC},
	})
}

// podInit runs the app in rootfs and exits with its status.
func podInit(rootfs string, argv []string) error {
	return start(argv[0], argv, &os.ProcAttr{
		Dir: "/",
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Sys: &syscall.SysProcAttr{Chroot: rootfs},
	})
}

// start runs a program with this process's standard streams and waits for
// it; an exitError carries its status.
func start(path string, argv []string, attr *os.ProcAttr) error {
	attr.Files = []*os.File{os.Stdin, os.Stdout, os.Stderr}
	p, err := os.StartProcess(path, argv, attr) //nolint:gosec // G702: running the command it is given is what this floor is for
	if err != nil {
		return err
	}
	st, err := p.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return exitError(st.ExitCode())
	}
	return nil
}

// exitError is a child's exit status, passed on as this process's own; a
// child killed by a signal (-1) ends this one with 255.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
