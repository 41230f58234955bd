package podinit

import (
	"os"
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
