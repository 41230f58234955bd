package podinit

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// TestLookPath: the PATH search of an app's command and of an entered
// one. An empty PATH entry is the current directory (POSIX), wherever it
// is in PATH.
func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string, mode os.FileMode) {
		t.Helper()
		if mode.IsDir() {
			if err := os.MkdirAll(dir+"/"+p, 0o755); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.MkdirAll(dir+"/"+p[:strings.LastIndexByte(p, '/')], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+p, nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("a/cmd", 0o644)            // not executable
	mk("b/cmd", os.ModeDir|0o755) // a directory
	mk("c/cmd", 0o755)            // the one
	mk("d/cmd", 0o755)            // later in PATH
	mk("cwd/here", 0o755)         // only in the current directory
	t.Chdir(dir + "/cwd")
	a, b, c, d := dir+"/a", dir+"/b", dir+"/c", dir+"/d"
	for _, tc := range []struct {
		name, cmd string
		env       []string
		want      string // "" for ENOENT
	}{
		{"first executable wins", "cmd", []string{"PATH=" + a + ":" + b + ":" + c + ":" + d}, c + "/cmd"},
		{"not found", "cmd", []string{"PATH=" + a + ":" + b}, ""},
		{"slash is not looked up", "./x/../cmd", []string{"PATH=" + c}, "./x/../cmd"},
		{"absolute", "/no/such", nil, "/no/such"},
		{"last PATH wins", "cmd", []string{"PATH=" + a, "PATH=" + d}, d + "/cmd"},
		{"empty entry first is the cwd", "here", []string{"PATH=:" + c}, "./here"},
		{"empty entry in the middle", "here", []string{"PATH=" + c + "::" + d}, "./here"},
		{"empty entry last", "here", []string{"PATH=" + c + ":"}, "./here"},
		{"empty PATH is the cwd", "here", []string{"PATH="}, "./here"},
		{"no empty entry, no cwd", "here", []string{"PATH=" + c + ":" + d}, ""},
		{"cwd after a match", "cmd", []string{"PATH=" + d + ":"}, d + "/cmd"},
		{"default PATH", "no-such-command-anywhere", []string{"HOME=/"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LookPath(tc.cmd, tc.env)
			if tc.want == "" {
				if !errors.Is(err, unix.ENOENT) {
					t.Fatalf("LookPath(%q) = %q, %v; want ENOENT", tc.cmd, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("LookPath(%q) = %q, %v; want %q", tc.cmd, got, err, tc.want)
			}
		})
	}
	// Without PATH, DefaultPath: sh is in one of its directories.
	got, err := LookPath("sh", nil)
	if err != nil || !slices.Contains(strings.Split(DefaultPath, ":"), path.Dir(got)) {
		t.Errorf("LookPath(sh) without PATH = %q, %v", got, err)
	}
}
