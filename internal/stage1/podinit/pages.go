package podinit

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TrimDelay is how long the stage1 processes that live as long as the pod
// (the run process and pod init) wait, once the apps run, before they drop
// their code pages (DropCodePages). Pods done sooner never pay for it:
// /bin/true in a pod takes about 20 ms from start to exit here.
const TrimDelay = 200 * time.Millisecond

// DropCodePages unmaps, from this process only, the pages of its
// executable's read-only segments (code and read-only data) and marks them
// for page-by-page faulting (MADV_RANDOM: no fault-around). The setup
// touched most of the binary; the steady state (waiting, reaping,
// forwarding signals) needs a few pages, which fault back from the page
// cache. Writable segments are never touched. It needs no file system:
// pod init calls it after its pivot to an empty root.
func DropCodePages() {
	for _, r := range codeRanges() {
		// The raw call: the range is the kernel's mapping of our
		// executable, not a Go object.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_RANDOM)
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED)
	}
}

// Auxiliary vector entries (elf.h): where the kernel mapped the
// executable's program headers, their size and their number.
const (
	atPHDR  = 3
	atPHENT = 4
	atPHNUM = 5
)

// prog64 is an ELF64 program header (Elf64_Phdr).
type prog64 struct {
	Type, Flags                                 uint32
	Off, Vaddr, Paddr, Filesz, Memsz, Alignment uint64
}

const (
	ptLoad = 1
	ptPHDR = 6
	pfW    = 2
)

// codeRanges returns the page-aligned address ranges of this process's
// read-only loadable segments, read from the program headers the kernel
// mapped with the executable (the auxiliary vector says where); nil when
// they cannot be found.
func codeRanges() [][2]uintptr {
	auxv, err := unix.Auxv()
	if err != nil {
		return nil
	}
	var phdr, phent, phnum uintptr
	for _, kv := range auxv {
		switch kv[0] {
		case atPHDR:
			phdr = kv[1]
		case atPHENT:
			phent = kv[1]
		case atPHNUM:
			phnum = kv[1]
		}
	}
	if phdr == 0 || phent != unsafe.Sizeof(prog64{}) || phnum == 0 || phnum > 64 {
		return nil
	}
	// The headers are in the executable's first mapping, which lives as
	// long as the process and is not Go memory. vet rejects converting an
	// integer to a pointer (wrong for Go memory, which can move): the
	// address is reinterpreted instead.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&phdr)) //nolint:gosec // G103: the kernel's mapping, see above
	progs := unsafe.Slice((*prog64)(p), phnum)     //nolint:gosec // G103: phnum headers of phent bytes each, as the kernel says
	return readOnlyLoads(progs, phdr, uintptr(unix.Getpagesize()))
}

// readOnlyLoads returns the page-aligned ranges of the PT_LOAD segments
// without write permission, relocated by the load bias (the headers'
// address, phdr, less the address PT_PHDR gives them: 0 for a static
// executable); nil without a PT_PHDR.
func readOnlyLoads(progs []prog64, phdr, page uintptr) [][2]uintptr {
	var bias uintptr
	found := false
	for _, p := range progs {
		if p.Type == ptPHDR {
			bias, found = phdr-uintptr(p.Vaddr), true
			break
		}
	}
	if !found {
		return nil
	}
	var out [][2]uintptr
	for _, p := range progs {
		if p.Type != ptLoad || p.Flags&pfW != 0 || p.Memsz == 0 {
			continue
		}
		lo := (bias + uintptr(p.Vaddr)) &^ (page - 1)
		hi := (bias + uintptr(p.Vaddr+p.Memsz) + page - 1) &^ (page - 1)
		out = append(out, [2]uintptr{lo, hi})
	}
	return out
}
