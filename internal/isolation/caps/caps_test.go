package caps

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"CAP_NET_ADMIN", unix.CAP_NET_ADMIN, true},
		{"net_admin", unix.CAP_NET_ADMIN, true},
		{" cap_chown ", unix.CAP_CHOWN, true},
		{"CAP_CHECKPOINT_RESTORE", unix.CAP_CHECKPOINT_RESTORE, true},
		{"CAP_NOPE", 0, false},
		{"", 0, false},
		{"CAP_", 0, false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for c := range names {
		if names[c] == "" {
			t.Errorf("capability %d has no name", c)
		}
		if got, err := Parse(Name(c)); err != nil || got != c {
			t.Errorf("round trip of %d: %d %v", c, got, err)
		}
	}
}

func TestBounding(t *testing.T) {
	admin, _ := ParseSet([]string{"CAP_SYS_ADMIN"})
	chown, _ := ParseSet([]string{"CAP_CHOWN", "CAP_KILL"})
	if Default.Len() != 14 || Default.Has(unix.CAP_SYS_ADMIN) || Default.Has(unix.CAP_NET_ADMIN) || Default.Has(unix.CAP_SYS_PTRACE) || !Default.Has(unix.CAP_NET_BIND_SERVICE) {
		t.Fatalf("default set: %s", Default)
	}
	for _, tc := range []struct {
		name           string
		retain, remove *Set
		want           Set
		ok             bool
	}{
		{"default", nil, nil, Default, true},
		{"retain", &admin, nil, admin, true},
		{"remove", nil, &chown, Default &^ chown, true},
		{"remove absent", nil, &admin, Default, true},
		{"both", &admin, &chown, 0, false},
	} {
		got, err := Bounding(tc.retain, tc.remove)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
	if s := (Default &^ chown).String(); s == "" || Set(0).String() != "" {
		t.Errorf("String: %q", s)
	}
}

func TestParseStatus(t *testing.T) {
	got, err := ParseStatus("Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapBnd:\t00000000a80425fb\n")
	if err != nil {
		t.Fatal(err)
	}
	if got["CapBnd"] != Default || got["CapInh"] != 0 || got["CapPrm"].Len() != 41 {
		t.Errorf("%v (default %x)", got, uint64(Default))
	}
	if _, err := ParseStatus("Name: x\n"); err == nil {
		t.Error("no Cap lines accepted")
	}
	if _, err := ParseStatus("CapBnd:\tzz\n"); err == nil {
		t.Error("bad hex accepted")
	}
}

// TestLimitThread limits a locked thread and checks its sets, and that the
// other threads keep theirs. Needs root (CAP_SETPCAP).
func TestLimitThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SETPCAP) to drop from the bounding set")
	}
	before, err := ThreadSets()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		sets map[string]Set
		err  error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := LimitThread(Default, LastCap()); err != nil {
			done <- result{err: err}
			return
		}
		s, err := ThreadSets()
		done <- result{s, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sets["CapBnd"] != Default&before["CapBnd"] || r.sets["CapInh"] != 0 || r.sets["CapAmb"] != 0 {
		t.Errorf("limited thread: %v", r.sets)
	}
	if r.sets["CapEff"] != before["CapEff"] {
		t.Errorf("effective set changed: %s -> %s", before["CapEff"], r.sets["CapEff"])
	}
	after, err := ThreadSets()
	if err != nil {
		t.Fatal(err)
	}
	if after["CapBnd"] != before["CapBnd"] {
		t.Errorf("another thread's bounding set changed: %s", after["CapBnd"])
	}
}

// ThreadSets reads the sets of the calling thread from procfs: "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb".
func ThreadSets() (map[string]Set, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return nil, err
	}
	return ParseStatus(string(b))
}
