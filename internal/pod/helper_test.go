package pod

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// The test binary doubles as a helper process (re-exec'd with
// POD_TEST_HELPER set), so that locks are held by another *process*: flock
// locks belong to open file descriptions, and only another process shows
// the cross-process semantics rkt relies on.
const helperEnv = "POD_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode, os.Getenv("POD_TEST_ARG")))
	}
	os.Exit(m.Run())
}

// helperMain runs a helper mode; it prints one line when ready, then
// blocks until its stdin reaches EOF (or it is killed).
func helperMain(mode, arg string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	block := func() int {
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	}
	switch mode {
	case "lock-sh", "lock-ex":
		fd, err := openDir(arg)
		if err != nil {
			return fail(err)
		}
		how := unix.LOCK_SH
		if mode == "lock-ex" {
			how = unix.LOCK_EX
		}
		if err := unix.Flock(fd, how); err != nil {
			return fail(err)
		}
		fmt.Println("locked")
		return block()
	case "prepare", "run", "exec-stage1":
		p, err := NewEmbryo(arg)
		if err != nil {
			return fail(err)
		}
		if err := p.ToPreparing(); err != nil {
			return fail(err)
		}
		if mode == "prepare" {
			fmt.Println(p.UUID)
			return block()
		}
		lock, err := p.ToRun()
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(p.Dir, abi.PID), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fail(err)
		}
		if mode == "run" {
			fmt.Println(p.UUID)
			return block()
		}
		fd, err := Inheritable(lock)
		if err != nil {
			return fail(err)
		}
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, helperEnv+"=") && !strings.HasPrefix(kv, "POD_TEST_ARG=") {
				env = append(env, kv)
			}
		}
		env = append(env, helperEnv+"=stage1", abi.EnvLockFD+"="+strconv.Itoa(fd), "POD_TEST_ARG="+p.UUID)
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		err = syscall.Exec(exe, []string{exe, "-test.run=^$"}, env)
		runtime.KeepAlive(lock)
		return fail(err)
	case "stage1":
		// The exec'd "stage1": the lock fd must have survived the exec.
		fd, err := strconv.Atoi(os.Getenv(abi.EnvLockFD))
		if err != nil {
			return fail(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fail(fmt.Errorf("lock fd %d: %w", fd, err))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fail(fmt.Errorf("lock fd %d is not a directory", fd))
		}
		fmt.Println(arg)
		return block()
	case "parent":
		// A ppid-style stage1: one child, then wait.
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		child := exec.CommandContext(context.Background(), exe, "-test.run=^$")
		child.Env = append(os.Environ(), helperEnv+"=block")
		stdin, err := child.StdinPipe()
		if err != nil {
			return fail(err)
		}
		if err := child.Start(); err != nil {
			return fail(err)
		}
		fmt.Println(child.Process.Pid)
		rc := block()
		_ = stdin.Close()
		_ = child.Wait()
		return rc
	case "block":
		return block()
	case "bindmount":
		return bindMountHelper(arg)
	}
	return fail(fmt.Errorf("unknown mode %q", mode))
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	line  string
}

// startHelper starts a helper and waits for its ready line.
func startHelper(t *testing.T, mode, arg string) *helper {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "POD_TEST_ARG="+arg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { h.kill() })
	lines := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(s)
	}()
	select {
	case h.line = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatalf("helper %s: no ready line", mode)
	}
	if h.line == "" {
		t.Fatalf("helper %s failed", mode)
	}
	return h
}

// stop closes the helper's stdin and waits for it to exit.
func (h *helper) stop(t *testing.T) {
	t.Helper()
	_ = h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
}

// kill kills the helper with SIGKILL and reaps it.
func (h *helper) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}
