package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The modes of a policy: the isolators os/linux/seccomp-retain-set and
// os/linux/seccomp-remove-set.
const (
	Retain = "retain"
	Remove = "remove"
)

// Isolator names.
const (
	RetainSetName = "os/linux/seccomp-retain-set"
	RemoveSetName = "os/linux/seccomp-remove-set"
)

// Policy is a seccomp policy as appc's isolators state it: in Retain mode
// the calls of Set are allowed and every other one blocked; in Remove mode
// the calls of Set are blocked. A blocked call kills the process with
// SIGSYS, or fails with Errno when it is set (an errno name, "ENOTSUP").
type Policy struct {
	Mode  string   `json:"mode"`
	Set   []string `json:"set"`
	Errno string   `json:"errno,omitempty"`
}

// Default is the filter of an app without a seccomp isolator: rkt's
// default whitelist.
func Default() Policy { return Policy{Mode: Retain, Set: []string{GroupRktWhitelist}} }

// IsDefault reports whether p is exactly Default().
func (p Policy) IsDefault() bool {
	return p.Mode == Retain && p.Errno == "" && len(p.Set) == 1 && p.Set[0] == GroupRktWhitelist
}

// Program returns p compiled: the ahead-of-time copy for the default
// policy (tools/genseccomp), else Compile's.
func Program(p Policy, o Options) ([]unix.SockFilter, error) {
	if p.IsDefault() {
		i := 0
		if o.DenyNamespaces {
			i = 1
		}
		if prog := defaultPrograms[i]; len(prog) > 0 {
			return prog, nil
		}
	}
	return Compile(p, o)
}

// Options are what the app's other settings change in its filter.
type Options struct {
	// DenyNamespaces: clone with a namespace flag fails with EPERM and
	// clone3 with ENOSYS (so libc falls back to clone), as docker does for
	// apps without CAP_SYS_ADMIN.
	DenyNamespaces bool
}

// nsFlags are clone's namespace flags.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

const x32Bit = 0x40000000

// table lists the system calls of one ABI, sorted by name.
type table []struct {
	name string
	nr   uint32
}

// lookup returns the number of a call.
func (t table) lookup(name string) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(t, name, func(e struct {
		name string
		nr   uint32
	}, n string) int {
		return strings.Compare(e.name, n)
	})
	if !ok {
		return 0, false
	}
	return t[i].nr, true
}

type abi struct {
	name  string
	table table
	bit   uint32 // added to every number (x32)
}

var abis = []abi{{"x86_64", sysX8664, 0}, {"x32", sysX32, x32Bit}, {"i386", sysI386, 0}}

// Known reports whether name is a system call of one of the ABIs.
func Known(name string) bool {
	for _, a := range abis {
		if _, ok := a.table.lookup(name); ok {
			return true
		}
	}
	return false
}

// expand resolves the names and groups of a set; all reports @appc.io/all.
func expand(set []string) (names map[string]bool, all bool, err error) {
	names = map[string]bool{}
	for _, s := range set {
		switch s {
		case GroupRktWhitelist, GroupDockerWhitelist:
			for _, n := range whitelist {
				names[n] = true
			}
		case GroupRktBlacklist, GroupDockerBlacklist:
			for _, n := range blacklist {
				names[n] = true
			}
		case GroupAll:
			all = true
		case GroupEmpty:
		default:
			if strings.HasPrefix(s, "@") {
				return nil, false, fmt.Errorf("unknown or unsupported system call group %q", s)
			}
			if !Known(s) {
				return nil, false, fmt.Errorf("unknown system call %q", s)
			}
			names[s] = true
		}
	}
	return names, all, nil
}

// ParseErrno returns the number of an errno name ("EPERM", "ENOTSUP").
func ParseErrno(name string) (uint32, error) {
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return uint32(e), nil
		}
	}
	switch name { // aliases ErrnoName does not return
	case "ENOTSUP":
		return uint32(unix.ENOTSUP), nil
	case "EWOULDBLOCK":
		return uint32(unix.EWOULDBLOCK), nil
	case "EDEADLOCK":
		return uint32(unix.EDEADLOCK), nil
	}
	return 0, fmt.Errorf("unknown errno %q", name)
}

// Check validates a policy without compiling it.
func (p Policy) Check() error {
	_, err := Compile(p, Options{})
	return err
}

func retErrno(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | e&unix.SECCOMP_RET_DATA }

// Compile turns a policy into a BPF program for seccomp(2).
func Compile(p Policy, o Options) ([]unix.SockFilter, error) {
	if p.Mode != Retain && p.Mode != Remove {
		return nil, fmt.Errorf("seccomp mode %q is neither %s nor %s", p.Mode, Retain, Remove)
	}
	if len(p.Set) == 0 {
		return nil, errors.New("the set of system calls is empty")
	}
	names, all, err := expand(p.Set)
	if err != nil {
		return nil, err
	}
	block := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	if p.Errno != "" {
		e, err := ParseErrno(p.Errno)
		if err != nil {
			return nil, err
		}
		block = retErrno(e)
	}
	if p.Mode == Retain {
		for _, n := range Startup {
			names[n] = true
		}
	} else {
		if all {
			return nil, fmt.Errorf("%s cannot be removed: the app could not even start", GroupAll)
		}
		for _, n := range Startup {
			if names[n] {
				return nil, fmt.Errorf("%s cannot be removed: the runtime needs it to start the app", n)
			}
		}
	}

	var b builder
	// Dispatch on the ABI; an unknown architecture is killed.
	b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 4) // seccomp_data.arch
	b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.AUDIT_ARCH_X86_64, 0, 4)
	b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 0) // seccomp_data.nr
	b.jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, x32Bit, 1, 0)
	jaX8664 := b.ja()
	jaX32 := b.ja()
	b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.AUDIT_ARCH_I386, 0, 2)
	b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 0)
	jaI386 := b.ja()
	b.ret(unix.SECCOMP_RET_KILL_PROCESS)

	for i, a := range abis {
		b.target([]int{jaX8664, jaX32, jaI386}[i])
		if all && p.Mode == Retain {
			b.ret(unix.SECCOMP_RET_ALLOW)
			continue
		}
		nr := func(n string) (uint32, bool) {
			v, ok := a.table.lookup(n)
			return v | a.bit, ok
		}
		if o.DenyNamespaces {
			if c, ok := nr("clone"); ok && (p.Mode == Remove && !names["clone"] || p.Mode == Retain && names["clone"]) {
				// x86_64 and x32: clone(flags, ...); i386 the same.
				b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, c, 0, 4)
				b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, 16) // args[0], low 32 bits
				b.jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, nsFlags, 1, 0)
				b.ret(unix.SECCOMP_RET_ALLOW)
				b.ret(retErrno(uint32(unix.EPERM)))
			}
			if c, ok := nr("clone3"); ok && !(p.Mode == Retain && names["clone3"]) {
				b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, c, 0, 1)
				b.ret(retErrno(uint32(unix.ENOSYS)))
			}
		} else if c, ok := nr("clone3"); ok && p.Mode == Retain && !names["clone3"] {
			b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, c, 0, 1)
			b.ret(retErrno(uint32(unix.ENOSYS)))
		}
		var nrs []uint32
		top := uint32(0)
		for _, e := range a.table {
			top = maxU(top, e.nr|a.bit)
			if names[e.name] {
				nrs = append(nrs, e.nr|a.bit)
			}
		}
		match, miss := uint32(unix.SECCOMP_RET_ALLOW), block
		if p.Mode == Remove {
			match, miss = block, unix.SECCOMP_RET_ALLOW
		}
		if p.Mode == Retain {
			// A call newer than our tables fails with ENOSYS, as on an
			// older kernel, rather than killing: libc falls back.
			b.jump(unix.BPF_JMP|unix.BPF_JGT|unix.BPF_K, top, 0, 1)
			b.ret(retErrno(uint32(unix.ENOSYS)))
		}
		b.tree(intervals(nrs), match, miss)
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.prog, nil
}

// interval is a run of consecutive system call numbers.
type interval struct{ lo, hi uint32 }

// intervals merges sorted numbers into runs.
func intervals(nrs []uint32) []interval {
	slices.Sort(nrs)
	nrs = slices.Compact(nrs)
	var out []interval
	for _, n := range nrs {
		if len(out) > 0 && out[len(out)-1].hi+1 == n {
			out[len(out)-1].hi = n
			continue
		}
		out = append(out, interval{n, n})
	}
	return out
}

// tree emits a binary search over the intervals (A holds the number):
// match for a number in one of them, miss for the others. A search, not a
// list: the kernel runs the filter for every call number when it builds
// its cache of constant verdicts at install time, and a list of 300
// numbers made that cost milliseconds per app.
func (b *builder) tree(ivs []interval, match, miss uint32) {
	if len(ivs) <= 3 {
		for _, iv := range ivs {
			if iv.lo == iv.hi {
				b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, iv.lo, 0, 1)
			} else {
				b.jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, iv.lo, 0, 2)
				b.jump(unix.BPF_JMP|unix.BPF_JGT|unix.BPF_K, iv.hi, 1, 0)
			}
			b.ret(match)
		}
		b.ret(miss)
		return
	}
	mid := len(ivs) / 2
	// A >= the middle interval's start: the right half (a long jump).
	b.jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, ivs[mid].lo, 0, 1)
	right := b.ja()
	b.tree(ivs[:mid], match, miss)
	b.target(right)
	b.tree(ivs[mid:], match, miss)
}

func maxU(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// builder assembles a program; ja placeholders are fixed by target.
type builder struct {
	prog []unix.SockFilter
}

func (b *builder) stmt(code uint16, k uint32) {
	b.prog = append(b.prog, unix.SockFilter{Code: code, K: k})
}

func (b *builder) jump(code uint16, k uint32, jt, jf uint8) {
	b.prog = append(b.prog, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
}

func (b *builder) ret(k uint32) { b.stmt(unix.BPF_RET|unix.BPF_K, k) }

// ja appends an unconditional jump to be resolved by target, and returns
// its index.
func (b *builder) ja() int {
	b.stmt(unix.BPF_JMP|unix.BPF_JA, 0)
	return len(b.prog) - 1
}

// target makes the jump at index i land on the next instruction.
func (b *builder) target(i int) {
	b.prog[i].K = uint32(len(b.prog) - i - 1) //nolint:gosec // bounded by the program length checked in finish
}

func (b *builder) finish() error {
	if len(b.prog) > unix.BPF_MAXINSNS {
		return fmt.Errorf("the filter has %d instructions, more than %d", len(b.prog), unix.BPF_MAXINSNS)
	}
	return nil
}

// Install loads prog as a seccomp filter of the calling thread only. The
// thread needs no_new_privs or CAP_SYS_ADMIN, and must be locked to its OS
// thread for good: the filter follows the thread, not the goroutine.
func Install(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return errors.New("seccomp: empty filter")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}                                               //nolint:gosec // at most BPF_MAXINSNS, checked by Compile
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))) //nolint:gosec // G103: seccomp(2) takes a pointer to the sock_fprog, alive for the call
	if errno != 0 {
		return fmt.Errorf("seccomp: installing the filter: %w", errno)
	}
	return nil
}
