package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	cgfs "github.com/opencontainers/cgroups/fs"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/cgroup/layout"
)

func TestDeviceOf(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
		want Device
	}{
		{"/dev/null", true, Device{Major: 1, Minor: 3, ReadOnly: true}},
		{"/dev/zero", true, Device{Major: 1, Minor: 5, ReadOnly: true}},
		{os.Args[0], false, Device{}}, // a regular file
		{"/dev", false, Device{}},     // a directory
		{"/nonexistent", false, Device{}},
	} {
		if d, ok := DeviceOf(tc.path, true); ok != tc.ok || d != tc.want {
			t.Errorf("DeviceOf(%q) = %+v, %v; want %+v, %v", tc.path, d, ok, tc.want, tc.ok)
		}
	}
}

func TestDeviceRules(t *testing.T) {
	rules := deviceRules([]Device{{Major: 1, Minor: 3, ReadOnly: true}, {Block: true, Major: 8, Minor: 1}})
	if rules[0].Allow || rules[0].Permissions != "rwm" || rules[0].Type != devconfig.WildcardDevice {
		t.Errorf("first rule does not deny everything: %+v", rules[0])
	}
	for _, r := range rules[1:] {
		if strings.Contains(string(r.Permissions), "m") || !r.Allow {
			t.Errorf("rule allows mknod or denies: %+v", r)
		}
	}
	n := len(rules)
	if r := rules[n-2]; r.Type != devconfig.CharDevice || r.Major != 1 || r.Minor != 3 || r.Permissions != "r" {
		t.Errorf("read-only character device volume: %+v", r)
	}
	if r := rules[n-1]; r.Type != devconfig.BlockDevice || r.Major != 8 || r.Minor != 1 || r.Permissions != "rw" {
		t.Errorf("block device volume: %+v", r)
	}
	if n != 1+len(basicDevices)+2 {
		t.Errorf("%d rules, want deny, %d basic and 2 volumes", n, len(basicDevices))
	}
}

// TestCreateKillRemove makes a pod's cgroups on this host (v1, hybrid or
// v2), checks the limits the kernel shows, kills a process in an app's
// cgroup and removes everything. Needs root.
func TestCreateKillRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	uuid := "00000000-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	apps := []App{{Name: "app", Limits: Limits{Memory: 64 << 20, CPUQuota: QuotaOfMillicores(500), CPUShares: 512, PidsLimit: 20}}}
	l, err := Plan(uuid, apps)
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := Create(l, apps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Kill(l, false, time.Second); _ = Remove(l) })
	for _, w := range warnings {
		t.Log(w)
	}
	// What the kernel shows in the app's cgroup, per version. On v1 a
	// host with swap accounting also gets memsw, equal to the memory
	// limit (no swap beyond it).
	appDir := func(ctrl string) string {
		if l.Version == 2 {
			ctrl = ""
		}
		return filepath.Join(l.Dirs[ctrl], "app")
	}
	type check struct {
		ctrl, file, want string
		contains         bool   // want is a substring (devices.list)
		absent           string // a substring that must not be there
	}
	checks := []check{
		{"memory", "memory.limit_in_bytes", "67108864", false, ""},
		{"cpu", "cpu.cfs_quota_us", "50000", false, ""},
		{"cpu", "cpu.shares", "512", false, ""},
		{"pids", "pids.max", "20", false, ""},
		{"devices", "devices.list", "c 1:3 rw", true, "a *:* rwm"},
	}
	if l.Version == 2 {
		checks = []check{
			{"", "memory.max", "67108864", false, ""},
			{"", "cpu.max", "50000 100000", false, ""},
			{"", "pids.max", "20", false, ""},
		}
	} else if _, err := os.Stat(filepath.Join(l.Dirs["memory"], "memory.memsw.limit_in_bytes")); err == nil {
		checks = append(checks, check{"memory", "memory.memsw.limit_in_bytes", "67108864", false, ""})
	}
	for _, c := range checks {
		b, err := os.ReadFile(filepath.Join(appDir(c.ctrl), c.file))
		got := strings.TrimSpace(string(b))
		bad := err != nil || !c.contains && got != c.want || c.contains && !strings.Contains(got, c.want)
		if bad || c.absent != "" && strings.Contains(got, c.absent) {
			t.Errorf("%s: %q, %v; want %q (without %q)", c.file, got, err, c.want, c.absent)
		}
	}
	// A process in the app's cgroup is killed by Kill.
	cmd := exec.CommandContext(t.Context(), "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, d := range l.AppDirs("app") {
		if err := cgroups.WriteCgroupProc(d, cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := Kill(l, true, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("sleep: %v", err)
	}
	dir := t.TempDir()
	if err := l.Save(dir); err != nil {
		t.Fatal(err)
	}
	l2, err := layout.Load(dir)
	if err != nil || l2.Path != l.Path || len(l2.Apps) != 1 {
		t.Fatalf("load: %+v %v", l2, err)
	}
	if err := Remove(l2); err != nil {
		t.Fatal(err)
	}
	for _, d := range l.Dirs {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there: %v", d, err)
		}
	}
}

func TestLimitsHelpers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		want   string
	}{
		{"no limits", Limits{}, "devices"},
		{"all devices, no limits", Limits{AllDevices: true}, ""},
		{"all limits", Limits{Memory: 1, CPUShares: 2, PidsLimit: 3}, "devices,memory,cpu,pids"},
		{"cpu quota", Limits{CPUQuota: 1, AllDevices: true}, "cpu"},
	} {
		if got := strings.Join(appControllersV1(tc.limits), ","); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	a := App{Name: "a", Limits: Limits{Memory: 1, CPUQuota: 1, PidsLimit: 1}}
	none := func(string) bool { return false }
	if w := missing(a, none); len(w) != 3 {
		t.Errorf("warnings: %v", w)
	}
	if w := missing(a, func(string) bool { return true }); len(w) != 0 {
		t.Errorf("warnings with every controller: %v", w)
	}
	r := resources(Limits{Memory: 64, CPUQuota: 50000, CPUShares: 1024, PidsLimit: 5}, nil, true)
	if r.CpuShares != 0 || r.CpuWeight == 0 || r.CpuPeriod != CPUPeriod || *r.PidsLimit != 5 || r.MemorySwap != 64 {
		t.Errorf("v2 resources: %+v", r)
	}
	dropMissing(r, none)
	if r.Memory != 0 || r.CpuQuota != 0 || r.CpuWeight != 0 || r.PidsLimit != nil {
		t.Errorf("after dropMissing: %+v", r)
	}
	if QuotaOfMillicores(250) != 25000 {
		t.Error("QuotaOfMillicores")
	}
}

// TestSetDevicesV1 holds the direct v1 device rules to the library's: the
// same rules written both ways into two new cgroups give the same
// devices.list (in another order). Needs root and a v1 devices hierarchy.
func TestSetDevicesV1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	// Plan finds the devices hierarchy, as for a pod; the pod cgroup is
	// the parent of the two cgroups compared.
	l, err := Plan("00000000-test-"+t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	parent, ok := l.Dirs["devices"]
	if l.Version != 1 || !ok {
		t.Skip("no cgroup v1 devices hierarchy")
	}
	direct, lib := parent+"/direct", parent+"/lib"
	t.Cleanup(func() { _ = unix.Rmdir(direct); _ = unix.Rmdir(lib); _ = unix.Rmdir(parent) })
	for _, devs := range [][]Device{nil, {{Major: 1, Minor: 3, ReadOnly: true}, {Block: true, Major: 8, Minor: 1}}} {
		rules := deviceRules(devs)
		// Made twice: the second time the directory exists.
		for range 2 {
			if err := setDevicesV1(direct, rules); err != nil {
				t.Fatal(err)
			}
		}
		m, err := cgfs.NewManager(&cgroups.Cgroup{Resources: &cgroups.Resources{}}, map[string]string{"devices": lib})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Apply(-1); err != nil {
			t.Fatal(err)
		}
		if err := m.Set(&cgroups.Resources{Devices: rules}); err != nil {
			t.Fatal(err)
		}
		got, err1 := os.ReadFile(direct + "/devices.list")
		want, err2 := os.ReadFile(lib + "/devices.list")
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		// The same rules; the kernel lists them in the order written.
		sorted := func(b []byte) string {
			l := strings.Split(strings.TrimSpace(string(b)), "\n")
			slices.Sort(l)
			return strings.Join(l, "\n")
		}
		if sorted(got) != sorted(want) || strings.Contains(string(got), "a *:*") {
			t.Errorf("devices %v: direct rules give\n%s\nthe library's\n%s", devs, got, want)
		}
		_ = unix.Rmdir(direct)
		_ = unix.Rmdir(lib)
	}
}
