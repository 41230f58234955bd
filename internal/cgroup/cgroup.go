package cgroup

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/moby/sys/userns"
	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // the v1 and v2 device controllers (v2: an eBPF program)
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/cgroup/layout"
)

// Limits are the resource limits of one app; zero values mean no limit.
type Limits struct {
	Memory    int64  // bytes
	CPUQuota  int64  // microseconds of CPU per CPUPeriod
	CPUShares uint64 // cgroup v1 cpu.shares (2..262144); cpu.weight on v2
	PidsLimit int64
	// Devices are the host devices the app may use besides the basic ones
	// (device volumes).
	Devices []Device
	// AllDevices leaves the device controller alone
	// (--insecure-options=paths).
	AllDevices bool
}

// CPUPeriod is the CFS period the CPU quota is given in.
const CPUPeriod = 100000

// Device is a host device node an app may use, as DeviceOf found it.
type Device struct {
	Block        bool // a block device; else a character device
	Major, Minor uint32
	ReadOnly     bool
}

// DeviceOf stats path once and returns the device node there; ok is false
// when path is not a character or block device (or cannot be stat'ed).
func DeviceOf(path string, readOnly bool) (d Device, ok bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return Device{}, false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
	case unix.S_IFBLK:
		d.Block = true
	default:
		return Device{}, false
	}
	d.Major, d.Minor, d.ReadOnly = unix.Major(st.Rdev), unix.Minor(st.Rdev), readOnly
	return d, true
}

// App is one app's name and limits.
type App struct {
	Name   string
	Limits Limits
}

// basicDevices may be read and written by every app; nothing may be
// created (no mknod permission).
var basicDevices = []devconfig.Rule{
	{Type: devconfig.CharDevice, Major: 1, Minor: 3, Permissions: "rw", Allow: true},    // null
	{Type: devconfig.CharDevice, Major: 1, Minor: 5, Permissions: "rw", Allow: true},    // zero
	{Type: devconfig.CharDevice, Major: 1, Minor: 7, Permissions: "rw", Allow: true},    // full
	{Type: devconfig.CharDevice, Major: 1, Minor: 8, Permissions: "rw", Allow: true},    // random
	{Type: devconfig.CharDevice, Major: 1, Minor: 9, Permissions: "rw", Allow: true},    // urandom
	{Type: devconfig.CharDevice, Major: 5, Minor: 0, Permissions: "rw", Allow: true},    // tty
	{Type: devconfig.CharDevice, Major: 5, Minor: 1, Permissions: "rw", Allow: true},    // console
	{Type: devconfig.CharDevice, Major: 5, Minor: 2, Permissions: "rw", Allow: true},    // ptmx
	{Type: devconfig.CharDevice, Major: 136, Minor: -1, Permissions: "rw", Allow: true}, // pts
}

// deviceRules returns an app's device rules: deny everything, then allow
// the basic nodes and the app's device volumes.
func deviceRules(devs []Device) []*devconfig.Rule {
	rules := []*devconfig.Rule{{Type: devconfig.WildcardDevice, Major: -1, Minor: -1, Permissions: "rwm", Allow: false}}
	for i := range basicDevices {
		r := basicDevices[i]
		rules = append(rules, &r)
	}
	for _, d := range devs {
		t := devconfig.CharDevice
		if d.Block {
			t = devconfig.BlockDevice
		}
		perm := devconfig.Permissions("rw")
		if d.ReadOnly {
			perm = "r"
		}
		rules = append(rules, &devconfig.Rule{Type: t, Major: int64(d.Major), Minor: int64(d.Minor), Permissions: perm, Allow: true})
	}
	return rules
}

func resources(l Limits, rules []*devconfig.Rule, v2 bool) *cgroups.Resources {
	r := &cgroups.Resources{Devices: rules, SkipDevices: l.AllDevices}
	// No swap beyond the memory limit: the limit is the app's memory.
	r.Memory, r.MemorySwap = l.Memory, l.Memory
	if l.CPUQuota > 0 {
		r.CpuQuota, r.CpuPeriod = l.CPUQuota, CPUPeriod
	}
	if l.CPUShares > 0 {
		r.CpuShares = l.CPUShares
		if v2 {
			r.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(l.CPUShares)
			r.CpuShares = 0
		}
	}
	if l.PidsLimit > 0 {
		p := l.PidsLimit
		r.PidsLimit = &p
	}
	return r
}

// v1Controllers are the v1 hierarchies a pod gets cgroups in: those its
// limits, accounting, device rules and freezing need. Every other one
// (cpuset, blkio, hugetlb, net_cls, the v2 part of a hybrid host, named
// hierarchies) would cost directories and migrations on every pod start
// for nothing the pod uses.
var v1Controllers = map[string]bool{"cpu": true, "cpuacct": true, "devices": true, "freezer": true, "memory": true, "pids": true}

// Plan returns where the pod's cgroups will be, without creating
// anything: record it in the pod directory before Create, so that gc can
// remove whatever a crash halfway through Create left.
func Plan(uuid string, apps []App) (*layout.Layout, error) {
	path := layout.PodPath(uuid)
	l := &layout.Layout{Path: path, Dirs: map[string]string{}, AppControllers: map[string][]string{}}
	for _, a := range apps {
		l.Apps = append(l.Apps, a.Name)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		l.Version = 2
		l.Dirs[""] = layout.Mountpoint + "/" + path
		for _, a := range apps {
			l.AppControllers[a.Name] = []string{""}
		}
		return l, nil
	}
	l.Version = 1
	// The usual layout (/sys/fs/cgroup/<controller>) is checked directly:
	// the library finds hierarchies by parsing /proc/self/mountinfo, which
	// costs 0.2 ms on every pod start.
	for ctrl := range v1Controllers {
		var st unix.Statfs_t
		d := layout.Mountpoint + "/" + ctrl
		if unix.Statfs(d, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			l.Dirs[ctrl] = d + "/" + path
		}
	}
	if len(l.Dirs) == 0 {
		podM, err := fs.NewManager(&cgroups.Cgroup{Path: "/" + path, Resources: &cgroups.Resources{}}, nil)
		if err != nil {
			return nil, err
		}
		for ctrl, d := range podM.GetPaths() {
			if v1Controllers[ctrl] {
				l.Dirs[ctrl] = d
			}
		}
	}
	if len(l.Dirs) == 0 {
		return nil, errors.New("no cgroup v1 controller is mounted")
	}
	for _, a := range apps {
		var ctrls []string
		for _, c := range appControllersV1(a.Limits) {
			if _, ok := l.Dirs[c]; ok {
				ctrls = append(ctrls, c)
			}
		}
		if len(ctrls) > 0 {
			l.AppControllers[a.Name] = ctrls
		}
	}
	return l, nil
}

// appControllersV1 lists the v1 hierarchies where an app needs a cgroup of
// its own: devices for its device rules, and memory, cpu and pids when
// limited. Each directory costs a mkdir (a memory cgroup is a heavy kernel
// object) and a migration on every pod start; accounting and freezing are
// the pod cgroup's.
func appControllersV1(l Limits) []string {
	var out []string
	if !l.AllDevices {
		out = append(out, "devices")
	}
	if l.Memory > 0 {
		out = append(out, "memory")
	}
	if l.CPUQuota > 0 || l.CPUShares > 0 {
		out = append(out, "cpu")
	}
	if l.PidsLimit > 0 {
		out = append(out, "pids")
	}
	return out
}

// Create makes the cgroups of a Plan: the pod cgroup, its init child and
// one child per app with its limits and device rules. It returns warnings
// for the limits whose controller the host lacks. On failure it removes
// what it made. Join then moves rkt's process into init.
func Create(l *layout.Layout, apps []App) ([]string, error) {
	warnings, err := create(l, apps)
	if err != nil {
		_ = Remove(l)
		return nil, err
	}
	return warnings, nil
}

// manager is what fs (v1) and fs2 (v2) managers both do for us.
type manager interface {
	Apply(pid int) error
	Set(r *cgroups.Resources) error
}

// newManager returns the manager of child name of the pod cgroup (""
// for the pod cgroup itself), in the hierarchies ctrls (v1).
func newManager(l *layout.Layout, name string, ctrls []string, r *cgroups.Resources) (manager, error) {
	if l.Version == 2 {
		return fs2.NewManager(&cgroups.Cgroup{Resources: r}, l.Dirs[""]+"/"+name)
	}
	paths := map[string]string{}
	for _, c := range ctrls {
		paths[c] = strings.TrimSuffix(l.Dirs[c]+"/"+name, "/")
	}
	return fs.NewManager(&cgroups.Cgroup{Resources: r}, paths)
}

func create(l *layout.Layout, apps []App) ([]string, error) {
	// rkt's own processes: on v2 the init child, on v1 the pod cgroup in
	// every hierarchy.
	var has func(string) bool
	if l.Version == 1 {
		// On v1 the pod cgroup is one directory per hierarchy, with
		// nothing to set: made directly, as the library's Apply(-1) would,
		// without its per-controller work.
		for _, d := range l.SortedDirs() {
			if err := mkdirV1(d); err != nil {
				return nil, fmt.Errorf("cgroup %s: %w", l.Path, err)
			}
		}
		has = func(c string) bool { _, ok := l.Dirs[c]; return ok }
	} else {
		base, err := newManager(l, layout.InitName, nil, &cgroups.Resources{})
		if err != nil {
			return nil, err
		}
		if err := base.Apply(-1); err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", l.Path, err)
		}
		// What the pod's children may use, now that Apply enabled it.
		avail := map[string]bool{}
		if b, err := os.ReadFile(l.Dirs[""] + "/cgroup.subtree_control"); err == nil {
			for _, c := range strings.Fields(string(b)) {
				avail[c] = true
			}
		}
		has = func(c string) bool { return avail[c] }
	}
	// Swap accounting on v1 (the memsw files) is the host's, the same for
	// every app: looked up at the first app with a swap limit, once.
	var memsw *bool
	var warnings []string
	for _, a := range apps {
		warnings = append(warnings, missing(a, has)...)
		ctrls := l.AppControllers[a.Name]
		if len(ctrls) == 0 {
			continue
		}
		rules := deviceRules(a.Limits.Devices)
		if l.Version == 1 && len(ctrls) == 1 && ctrls[0] == "devices" {
			// The usual app, with device rules and no limit: the rules
			// are written directly (see setDevicesV1).
			if err := setDevicesV1(l.Dirs["devices"]+"/"+a.Name, rules); err != nil {
				return nil, fmt.Errorf("app %q: cgroup: %w", a.Name, err)
			}
			continue
		}
		r := resources(a.Limits, rules, l.Version == 2)
		dropMissing(r, has)
		if d, ok := l.Dirs["memory"]; ok && l.Version == 1 && r.MemorySwap != 0 {
			if memsw == nil {
				has := fileExists(d + "/memory.memsw.limit_in_bytes")
				memsw = &has
			}
			if !*memsw {
				// Without swap accounting (no memsw files) there is no
				// swap limit to set: the library would fail on the
				// missing file.
				r.MemorySwap = 0
			}
		}
		m, err := newManager(l, a.Name, ctrls, r)
		if err != nil {
			return nil, err
		}
		if err := m.Apply(-1); err != nil {
			return nil, fmt.Errorf("app %q: cgroup: %w", a.Name, err)
		}
		if err := m.Set(r); err != nil {
			return nil, fmt.Errorf("app %q: cgroup limits: %w", a.Name, err)
		}
	}
	return warnings, nil
}

// mkdirV1 makes a v1 cgroup directory, and its parents when missing (the
// first pod makes machine.slice); one that exists is kept, as the
// library's Apply does.
func mkdirV1(d string) error {
	err := unix.Mkdir(d, 0o755)
	switch {
	case err == nil || errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.ENOENT):
		return os.MkdirAll(d, 0o755) //nolint:gosec // G301: cgroup directories are 0755, as the library and systemd make them
	}
	return &os.PathError{Op: "mkdir", Path: d, Err: err}
}

// setDevicesV1 makes the v1 devices cgroup d of an app and writes its
// rules: the first denies everything (the new cgroup inherits its
// parent's allow-all), the others allow, one rule per write as the kernel
// reads them. It is what the library's devices Set does for a new cgroup
// (its emulator computes the same transition), without reading
// devices.list before and after and opening the file once per rule;
// TestSetDevicesV1 holds the two to the same result. In a user namespace
// the devices controller cannot be written, and the library skips it too.
func setDevicesV1(d string, rules []*devconfig.Rule) error {
	if err := mkdirV1(d); err != nil {
		return err
	}
	if userns.RunningInUserNS() {
		return nil
	}
	// Each file is opened at its first rule: files[0] devices.deny,
	// files[1] devices.allow.
	var files [2]*os.File
	defer func() {
		for _, f := range files {
			if f != nil {
				_ = f.Close()
			}
		}
	}()
	for _, r := range rules {
		i, name := 0, "devices.deny"
		if r.Allow {
			i, name = 1, "devices.allow"
		}
		if files[i] == nil {
			f, err := os.OpenFile(d+"/"+name, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			files[i] = f
		}
		if _, err := files[i].WriteString(r.CgroupString()); err != nil {
			return fmt.Errorf("write %q to %s: %w", r.CgroupString(), files[i].Name(), err)
		}
	}
	return nil
}

// JoinThread moves the calling thread into the pod's init cgroup, in
// every hierarchy, for the exec that follows: exec leaves only the calling
// thread, so the whole new process is in init. On cgroup v1 it moves that
// thread alone (its tasks file): moving a whole process takes the
// kernel's threadgroup lock for writing, which waits for an RCU grace
// period (8 ms measured here) on every pod start. On cgroup v2 a process
// is in one cgroup, so the whole process moves. The caller must have
// locked its OS thread (runtime.LockOSThread) and exec from it.
func JoinThread(l *layout.Layout) error {
	for _, d := range l.InitDirs() {
		p := d + "/" + l.ThreadFile()
		if err := os.WriteFile(p, []byte("0"), 0); err != nil {
			return fmt.Errorf("cgroup %s: %w", p, err)
		}
	}
	return nil
}

// missing warns about each limit of a whose controller is absent.
func missing(a App, has func(string) bool) []string {
	var w []string
	l := a.Limits
	if l.Memory > 0 && !has("memory") {
		w = append(w, fmt.Sprintf("app %q: no memory cgroup controller: the memory limit is not enforced", a.Name))
	}
	if (l.CPUQuota > 0 || l.CPUShares > 0) && !has("cpu") {
		w = append(w, fmt.Sprintf("app %q: no cpu cgroup controller: the cpu limits are not enforced", a.Name))
	}
	if l.PidsLimit > 0 && !has("pids") {
		w = append(w, fmt.Sprintf("app %q: no pids cgroup controller: the pids limit is not enforced", a.Name))
	}
	return w
}

// dropMissing clears the limits whose controller is absent, so that Set
// does not fail on them.
func dropMissing(r *cgroups.Resources, has func(string) bool) {
	if !has("memory") {
		r.Memory = 0
	}
	if !has("cpu") {
		r.CpuQuota, r.CpuPeriod, r.CpuShares, r.CpuWeight = 0, 0, 0, 0
	}
	if !has("pids") {
		r.PidsLimit = nil
	}
}

// Kill sends SIGKILL to every process in the pod's cgroups (or only in
// its apps' with appsOnly) until none is left, for at most timeout.
func Kill(l *layout.Layout, appsOnly bool, timeout time.Duration) error {
	dirs := l.SortedDirs()
	if appsOnly {
		dirs = nil
		for _, a := range l.Apps {
			dirs = append(dirs, l.AppDirs(a)...)
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		pids := map[int]bool{}
		for _, d := range dirs {
			if l.Version == 2 {
				// cgroup.kill (Linux 5.14) kills the whole subtree at
				// once; older kernels fall back to the loop.
				_ = os.WriteFile(d+"/cgroup.kill", []byte("1"), 0)
			}
			ps, err := cgroups.GetAllPids(d)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cgroup %s: %w", d, err)
			}
			for _, p := range ps {
				pids[p] = true
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %d processes still there after %v", l.Path, len(pids), timeout)
		}
		for p := range pids {
			_ = unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Remove deletes the pod's cgroups (children first). They must be empty.
func Remove(l *layout.Layout) error {
	var errs []error
	var dirs []string
	for _, a := range l.Apps {
		dirs = append(dirs, l.AppDirs(a)...)
	}
	if l.Version == 2 {
		dirs = append(dirs, l.InitDirs()...)
	}
	dirs = append(dirs, l.SortedDirs()...)
	for _, d := range dirs {
		if err := rmdir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func rmdir(d string) error {
	err := unix.Rmdir(d)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("remove cgroup %s: %w", d, err)
}

// QuotaOfMillicores converts a CPU limit in millicores (Kubernetes' 500m)
// to microseconds per CPUPeriod.
func QuotaOfMillicores(m int64) int64 { return m * CPUPeriod / 1000 }
