package abi

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPodNamespaces(t *testing.T) {
	base := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS)
	for _, tc := range []struct {
		net, ipc string
		flags    uintptr
		ok       bool
	}{
		{"host", "", base | unix.CLONE_NEWIPC, true},
		{"host", "auto", base | unix.CLONE_NEWIPC, true},
		{"host", "private", base | unix.CLONE_NEWIPC, true},
		{"host", "parent", base, true},
		{"none", "", base | unix.CLONE_NEWIPC | unix.CLONE_NEWNET, true},
		{"none", "parent", base | unix.CLONE_NEWNET, true},
		{"default", "", 0, false},
		{"", "", 0, false},
		{"mynet", "", 0, false},
		{"host", "bogus", 0, false},
		{"host,none", "", 0, false},
	} {
		flags, ok := PodNamespaces(tc.net, tc.ipc)
		if flags != tc.flags || ok != tc.ok {
			t.Errorf("PodNamespaces(%q, %q) = %#x, %v; want %#x, %v", tc.net, tc.ipc, flags, ok, tc.flags, tc.ok)
		}
	}
}

func TestPodInitEnv(t *testing.T) {
	e := PodInit{PID: 4242, ConfigFD: 5, CloneFlags: unix.CLONE_NEWNS | unix.CLONE_NEWPID}
	got, err := ParsePodInit(e.String())
	if err != nil || got != e {
		t.Fatalf("ParsePodInit(%q) = %+v, %v; want %+v", e.String(), got, err, e)
	}
	// "1,5,6,1" is the first version's value (with a socket's fd).
	for _, bad := range []string{"", "1,2", "1,5,6,1", "0,5,1", "1,-5,1", "1,x,1", "1,5,-1", "1,5,4294967296", "4294967296,5,1"} {
		if _, err := ParsePodInit(bad); err == nil || !strings.Contains(err.Error(), EnvPodInit) {
			t.Errorf("ParsePodInit(%q): err = %v, want an error naming %s", bad, err, EnvPodInit)
		}
	}
}
