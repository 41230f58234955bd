package podinit

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// exeRss sums the Rss of this process's read-only mappings of its
// executable (smaps).
func exeRss(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	total, in := 0, false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.Contains(f[0], "-") {
			in = f[5] == exe && strings.HasPrefix(f[1], "r-")
			continue
		}
		if in && len(f) >= 2 && f[0] == "Rss:" {
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}

// TestDropCodePages: the read-only pages of the executable leave this
// process's resident set, and the code keeps running (pages fault back).
func TestDropCodePages(t *testing.T) {
	before := exeRss(t)
	DropCodePages()
	after := exeRss(t)
	if before == 0 || after >= before {
		t.Errorf("resident code: %d KiB before, %d KiB after", before, after)
	}
	// Code and read-only data are still there.
	if got := strings.ToUpper(strconv.Itoa(12345) + "abc"); got != "12345ABC" {
		t.Fatal(got)
	}
	if _, err := planSecurity(nil, 0, Config{}); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyLoads(t *testing.T) {
	const page = 0x1000
	static := []prog64{
		{Type: ptPHDR, Vaddr: 0x400040},
		{Type: 4 /* PT_NOTE */, Vaddr: 0x400f78, Memsz: 0x64},
		{Type: ptLoad, Flags: 5, Vaddr: 0x400000, Memsz: 0x195ed1},
		{Type: ptLoad, Flags: 4, Vaddr: 0x596000, Memsz: 0x1bd7d8},
		{Type: ptLoad, Flags: 6, Vaddr: 0x754000, Memsz: 0x61840},
	}
	pie := []prog64{
		{Type: ptPHDR, Vaddr: 0x40},
		{Type: ptLoad, Flags: 5, Vaddr: 0x0, Memsz: 0x2000},
		{Type: ptLoad, Flags: 6, Vaddr: 0x3000, Memsz: 0x1000},
	}
	for _, tc := range []struct {
		name  string
		progs []prog64
		phdr  uintptr
		want  [][2]uintptr
	}{
		{"static", static, 0x400040, [][2]uintptr{{0x400000, 0x596000}, {0x596000, 0x754000}}},
		{"pie, relocated", pie, 0x7f0000000040, [][2]uintptr{{0x7f0000000000, 0x7f0000002000}}},
		{"no PT_PHDR", static[1:], 0x400040, nil},
		{"nothing read-only", static[4:], 0x400040, nil},
	} {
		got := readOnlyLoads(tc.progs, tc.phdr, page)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.want)
		}
	}
}

// TestCodeRangesHoldCode: the ranges found through the auxiliary vector
// hold this test's own code.
func TestCodeRangesHoldCode(t *testing.T) {
	pc := reflect.ValueOf(TestCodeRangesHoldCode).Pointer()
	for _, r := range codeRanges() {
		if r[0] <= pc && pc < r[1] {
			return
		}
	}
	t.Fatalf("no range of %x holds %#x", codeRanges(), pc)
}
