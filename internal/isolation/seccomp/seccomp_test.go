package seccomp

import (
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// run interprets prog on a seccomp_data of arch, nr and args (the subset
// of classic BPF Compile emits), and returns the action.
func run(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			var ok bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				ok = acc == in.K
			case unix.BPF_JSET:
				ok = acc&in.K != 0
			case unix.BPF_JGT:
				ok = acc > in.K
			case unix.BPF_JGE:
				ok = acc >= in.K
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatal("fell off the end of the program")
	return 0
}

const (
	allow = unix.SECCOMP_RET_ALLOW
	kill  = unix.SECCOMP_RET_KILL_PROCESS
)

// num is a call's number in t, 0 when t lacks it.
func num(t table, name string) uint32 {
	v, _ := t.lookup(name)
	return v
}

func errnoRet(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func TestCompileDefault(t *testing.T) {
	prog, err := Compile(Default(), Options{DenyNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	x64, i386, x32 := uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_I386), uint32(unix.AUDIT_ARCH_X86_64)
	cases := []struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", x64, num(sysX8664, "read"), nil, allow},
		{"write", x64, num(sysX8664, "write"), nil, allow},
		{"keyctl", x64, num(sysX8664, "keyctl"), nil, kill},
		{"mount", x64, num(sysX8664, "mount"), nil, kill},
		{"ptrace", x64, num(sysX8664, "ptrace"), nil, kill},
		{"unshare", x64, num(sysX8664, "unshare"), nil, kill},
		{"clone plain", x64, num(sysX8664, "clone"), []uint64{uint64(unix.SIGCHLD | unix.CLONE_VM)}, allow},
		{"clone newuser", x64, num(sysX8664, "clone"), []uint64{unix.CLONE_NEWUSER}, errnoRet(unix.EPERM)},
		{"clone newns high bits", x64, num(sysX8664, "clone"), []uint64{1<<40 | unix.CLONE_NEWNS}, errnoRet(unix.EPERM)},
		{"clone3", x64, num(sysX8664, "clone3"), nil, errnoRet(unix.ENOSYS)},
		{"newer than the table", x64, 1000, nil, errnoRet(unix.ENOSYS)},
		{"i386 write", i386, num(sysI386, "write"), nil, allow},
		{"i386 clock_gettime64", i386, num(sysI386, "clock_gettime64"), nil, allow},
		{"i386 keyctl", i386, num(sysI386, "keyctl"), nil, kill},
		{"i386 number of x86_64 keyctl", i386, num(sysX8664, "keyctl"), nil, allow}, // 250 is i386 fadvise64
		{"i386 clone newuser", i386, num(sysI386, "clone"), []uint64{unix.CLONE_NEWUSER}, errnoRet(unix.EPERM)},
		{"x32 read", x32, x32Bit | num(sysX32, "read"), nil, allow},
		{"x32 keyctl", x32, x32Bit | num(sysX32, "keyctl"), nil, kill},
		{"x32 beyond", x32, x32Bit | 1000, nil, errnoRet(unix.ENOSYS)},
		{"unknown arch", unix.AUDIT_ARCH_AARCH64, 0, nil, kill},
	}
	for _, c := range cases {
		if got := run(t, prog, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	if num(sysX8664, "keyctl") != 250 || num(sysI386, "fadvise64") != 250 {
		t.Fatalf("tables changed: keyctl %d, i386 fadvise64 %d", num(sysX8664, "keyctl"), num(sysI386, "fadvise64"))
	}
}

func TestCompilePolicies(t *testing.T) {
	x64 := uint32(unix.AUDIT_ARCH_X86_64)
	// Retain a tiny set with an errno: the startup calls stay allowed.
	prog, err := Compile(Policy{Mode: Retain, Set: []string{"getpid"}, Errno: "ENOTSUP"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]uint32{"getpid": allow, "execve": allow, "futex": allow, "open": errnoRet(unix.ENOTSUP), "clone3": errnoRet(unix.ENOSYS)} {
		if got := run(t, prog, x64, num(sysX8664, n), unix.CLONE_NEWUSER); got != want {
			t.Errorf("retain getpid: %s = %#x, want %#x", n, got, want)
		}
	}
	// Without DenyNamespaces clone is not filtered.
	if got := run(t, prog, x64, num(sysX8664, "clone"), unix.CLONE_NEWUSER); got != allow {
		t.Errorf("clone without DenyNamespaces: %#x", got)
	}
	// Remove: the set is blocked, the rest allowed; groups expand.
	prog, err = Compile(Policy{Mode: Remove, Set: []string{GroupDockerBlacklist, "chmod"}}, Options{DenyNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]uint32{"keyctl": kill, "chmod": kill, "open": allow, "unshare": kill, "clone3": errnoRet(unix.ENOSYS)} {
		if got := run(t, prog, x64, num(sysX8664, n)); got != want {
			t.Errorf("remove: %s = %#x, want %#x", n, got, want)
		}
	}
	if got := run(t, prog, x64, num(sysX8664, "clone"), unix.CLONE_NEWNET); got != errnoRet(unix.EPERM) {
		t.Errorf("remove, clone newnet: %#x", got)
	}
	prog, err = Compile(Policy{Mode: Retain, Set: []string{GroupAll}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, prog, x64, num(sysX8664, "keyctl")); got != allow {
		t.Errorf("retain all: keyctl %#x", got)
	}
	for _, bad := range []Policy{
		{Mode: "keep", Set: []string{"read"}},
		{Mode: Retain},
		{Mode: Retain, Set: []string{"nosuchcall"}},
		{Mode: Retain, Set: []string{"@systemd/clock"}},
		{Mode: Retain, Set: []string{"read"}, Errno: "EWHAT"},
		{Mode: Remove, Set: []string{"execve"}},
		{Mode: Remove, Set: []string{GroupAll}},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (Policy{Mode: Retain, Set: []string{GroupEmpty}}).Check(); err != nil {
		t.Errorf("@appc.io/empty: %v", err)
	}
}

// TestTreeAgainstList checks the search against the sets it encodes, for
// every number of every ABI and some beyond.
func TestTreeAgainstList(t *testing.T) {
	for _, p := range []Policy{Default(), {Mode: Remove, Set: []string{GroupRktBlacklist}}, {Mode: Retain, Set: []string{"read", "write", "openat"}}} {
		prog, err := Compile(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		names, _, _ := expand(p.Set)
		if p.Mode == Retain {
			for _, n := range Startup {
				names[n] = true
			}
		}
		for _, a := range abis {
			arch := uint32(unix.AUDIT_ARCH_X86_64)
			if a.name == "i386" {
				arch = unix.AUDIT_ARCH_I386
			}
			for _, e := range a.table {
				if e.name == "clone3" {
					continue
				}
				got := run(t, prog, arch, e.nr|a.bit)
				want := uint32(unix.SECCOMP_RET_KILL_PROCESS)
				if names[e.name] == (p.Mode == Retain) {
					want = unix.SECCOMP_RET_ALLOW
				}
				if got != want {
					t.Errorf("%s %s %s (%d): %#x, want %#x", p.Mode, a.name, e.name, e.nr, got, want)
				}
			}
		}
	}
	prog, _ := Compile(Default(), Options{})
	if n := len(prog); n > 600 {
		t.Errorf("the default filter has %d instructions", n)
	}
}

func TestParseErrno(t *testing.T) {
	for name, want := range map[string]unix.Errno{"EPERM": unix.EPERM, "ENOTSUP": unix.ENOTSUP, "ENOSYS": unix.ENOSYS, "EACCES": unix.EACCES} {
		if got, err := ParseErrno(name); err != nil || got != uint32(want) {
			t.Errorf("%s: %d %v", name, got, err)
		}
	}
	if _, err := ParseErrno("eperm"); err == nil {
		t.Error("lower case accepted")
	}
}

func TestTablesSorted(t *testing.T) {
	for _, a := range abis {
		if len(a.table) < 300 || !slices.IsSortedFunc(a.table, func(x, y struct {
			name string
			nr   uint32
		}) int {
			return strings.Compare(x.name, y.name)
		}) {
			t.Errorf("%s: %d entries, or not sorted by name", a.name, len(a.table))
		}
	}
	if v, ok := sysX8664.lookup("read"); !ok || v != 0 {
		t.Errorf("read: %d %v", v, ok)
	}
	if _, ok := sysX8664.lookup("chown32"); ok {
		t.Error("chown32 is not an x86_64 call")
	}
}

func TestGroupsAreKnown(t *testing.T) {
	for _, list := range [][]string{whitelist, blacklist, Startup} {
		for _, n := range list {
			if !Known(n) {
				t.Errorf("%s is in no system call table", n)
			}
		}
	}
	for _, n := range Startup {
		if _, ok := sysX8664.lookup(n); !ok {
			t.Errorf("startup call %s is not an x86_64 call", n)
		}
	}
	for _, n := range blacklist {
		for _, w := range whitelist {
			if n == w {
				t.Errorf("%s is in both lists", n)
			}
		}
	}
}

// TestInstall loads a filter on a locked thread (with no_new_privs, so no
// privilege is needed) and checks that it applies there and not on the
// other threads.
func TestInstall(t *testing.T) {
	prog, err := Compile(Policy{Mode: Remove, Set: []string{"getppid"}, Errno: "ENOTSUP"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- err
			return
		}
		if err := Install(prog); err != nil {
			done <- err
			return
		}
		_, _, errno := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		done <- errno
	}()
	if err := <-done; !errors.Is(err, unix.ENOTSUP) {
		t.Fatalf("getppid on the filtered thread: %v, want ENOTSUP", err)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); errno != 0 {
		t.Errorf("getppid on another thread: %v", errno)
	}
}

// TestDefaultProgramsFresh: zdefault.go is what the compiler gives today
// (run go run ./tools/genseccomp -o internal/isolation/seccomp/zdefault.go).
func TestDefaultProgramsFresh(t *testing.T) {
	for i, deny := range []bool{false, true} {
		want, err := Compile(Default(), Options{DenyNamespaces: deny})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(defaultPrograms[i], want) {
			t.Errorf("defaultPrograms[%d] is stale: regenerate it with tools/genseccomp", i)
		}
		got, err := Program(Default(), Options{DenyNamespaces: deny})
		if err != nil || &got[0] != &defaultPrograms[i][0] {
			t.Errorf("Program(Default()) did not use the precompiled filter")
		}
	}
	if !Default().IsDefault() || (Policy{Mode: Retain, Set: []string{GroupRktWhitelist}, Errno: "EPERM"}).IsDefault() {
		t.Error("IsDefault")
	}
}
