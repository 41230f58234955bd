package podinit

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"strings"
	"testing"
)

// TestElfInterp compares elfInterp with debug/elf on the host's binaries,
// and checks a hand-made 32-bit big-endian file and non-ELF input.
func TestElfInterp(t *testing.T) {
	seen := 0
	for _, p := range []string{"/bin/sh", "/bin/true", "/usr/bin/env", "/proc/self/exe"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		want, wantOK := "", false
		for _, ph := range f.Progs {
			if ph.Type == elf.PT_INTERP {
				b, _ := io.ReadAll(ph.Open())
				want, wantOK = strings.TrimRight(string(b), "\x00"), true
				break
			}
		}
		f.Close()
		r, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := elfInterp(r)
		r.Close()
		if got != want || ok != wantOK {
			t.Errorf("%s: got %q %v, want %q %v", p, got, ok, want, wantOK)
		}
		seen++
	}
	if seen == 0 {
		t.Skip("no ELF binaries to compare with")
	}

	// 32 bits, big-endian: header (52), one program header at 52 (32),
	// the interpreter's path at 84.
	b := make([]byte, 84)
	copy(b, "\x7fELF\x01\x02\x01")
	be := binary.BigEndian
	be.PutUint32(b[28:], 52) // e_phoff
	be.PutUint16(b[42:], 32) // e_phentsize
	be.PutUint16(b[44:], 1)  // e_phnum
	be.PutUint32(b[52:], 3)  // PT_INTERP
	be.PutUint32(b[56:], 84) // p_offset
	be.PutUint32(b[68:], 12) // p_filesz
	b = append(b, "/lib/ld.so1\x00"...)
	if got, ok := elfInterp(bytes.NewReader(b)); !ok || got != "/lib/ld.so1" {
		t.Errorf("32-bit BE: %q %v", got, ok)
	}
	for _, bad := range []string{"", "#!/bin/sh\n", "\x7fELF\x03\x01", "\x7fELF\x02\x01"} {
		if got, ok := elfInterp(strings.NewReader(bad)); ok {
			t.Errorf("%q: %q", bad, got)
		}
	}
}
