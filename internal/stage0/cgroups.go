package stage0

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/cgroup"
	"github.com/rkt/rkt/internal/cgroup/layout"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/startup"
)

// AppLimits reads the resource limits of an app: the resource/memory and
// resource/cpu limits (Kubernetes quantities) and os/linux/cpu-shares
// isolators, and the podspec.AnnotationPidsLimit annotation.
func AppLimits(ra *schema.RuntimeApp) (cgroup.Limits, error) {
	var l cgroup.Limits
	if v, ok := ra.Annotations.Get(podspec.AnnotationPidsLimit); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return l, fmt.Errorf("%s: %q is not a positive number", podspec.AnnotationPidsLimit, v)
		}
		l.PidsLimit = n
	}
	app := ra.App
	if app == nil {
		return l, nil
	}
	// Every producer of isolators gives a decoded Value(): a manifest
	// read from JSON (pod or image manifest) and the CLI's flags (which
	// decode appc's resource isolators where they make them).
	for i := range app.Isolators {
		iso := &app.Isolators[i]
		switch v := iso.Value().(type) {
		case *types.ResourceMemory:
			if q := v.Limit(); q != nil {
				l.Memory = q.Value()
			}
		case *types.ResourceCPU:
			if q := v.Limit(); q != nil {
				l.CPUQuota = cgroup.QuotaOfMillicores(q.MilliValue())
				if l.CPUQuota < 1000 {
					return l, fmt.Errorf("%s: a CPU limit of %s is below 10m", iso.Name, q)
				}
			}
		case *types.LinuxCPUShares:
			l.CPUShares = uint64(*v) //nolint:gosec // appc checks 2 <= shares <= 262144
		}
	}
	return l, nil
}

// deviceVolumes lists the host devices an app gets through host volumes.
func deviceVolumes(pm *schema.PodManifest, ra *schema.RuntimeApp) []cgroup.Device {
	var out []cgroup.Device
	for _, m := range ra.Mounts {
		for _, v := range pm.Volumes {
			if v.Name != m.Volume || v.Kind != "host" {
				continue
			}
			if d, ok := cgroup.DeviceOf(v.Source, v.ReadOnly != nil && *v.ReadOnly); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// createCgroups creates the pod's cgroups from its manifest and records
// them in the pod directory; it returns their layout, for the thread that
// execs stage1 to join (cgroup.JoinThread), and what they cannot enforce.
// allDevices (--insecure-options=paths) leaves the device controller
// open. pm is the pod's manifest (the pod directory's, read when nil).
// recorded, when not nil, is called once the layout is in the pod
// directory.
func createCgroups(p *pod.Pod, pm *schema.PodManifest, allDevices bool, recorded func()) (*layout.Layout, []string, error) {
	if pm == nil {
		var err error
		if pm, err = ReadPodManifest(filepath.Join(p.Dir, abi.PodManifest)); err != nil {
			return nil, nil, err
		}
	}
	apps := make([]cgroup.App, 0, len(pm.Apps))
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		l, err := AppLimits(ra)
		if err != nil {
			return nil, nil, fmt.Errorf("app %q: %w", ra.Name, err)
		}
		l.AllDevices = allDevices
		if !allDevices { // else no device rule, so no device to stat
			l.Devices = deviceVolumes(pm, ra)
		}
		apps = append(apps, cgroup.App{Name: ra.Name.String(), Limits: l})
	}
	l, err := cgroup.Plan(p.UUID, apps)
	if err != nil {
		return nil, nil, fmt.Errorf("cgroups: %w", err)
	}
	// Recorded first: a crash halfway leaves nothing gc cannot find.
	if err := l.Save(p.Dir); err != nil {
		return nil, nil, err
	}
	if recorded != nil {
		recorded()
	}
	warnings, err := cgroup.Create(l, apps)
	if err != nil {
		return nil, nil, fmt.Errorf("cgroups: %w", err)
	}
	return l, warnings, nil
}

// cgroupsStart is the creation of a pod's cgroups that Prepare starts, for
// a pod that runs at once (rkt run), while it writes the pod's files: on a
// cgroup v1 host their dozen directories and writes take about a
// millisecond, which would otherwise come after.
type cgroupsStart struct {
	done       chan struct{}
	recorded   chan struct{} // closed once the layout is in the pod dir, or will not be
	allDevices bool          // what they were made for
	layout     *layout.Layout
	warnings   []string
	err        error
}

// startCgroups starts createCgroups. Until wait returns, neither p nor pm
// may change.
func startCgroups(p *pod.Pod, pm *schema.PodManifest, allDevices bool) *cgroupsStart {
	cs := &cgroupsStart{done: make(chan struct{}), recorded: make(chan struct{}), allDevices: allDevices}
	go func() {
		startup.Grow()
		defer close(cs.done)
		// Closed when recorded, or at the latest when the creation ends.
		recorded := sync.OnceFunc(func() { close(cs.recorded) })
		defer recorded()
		cs.layout, cs.warnings, cs.err = createCgroups(p, pm, allDevices, recorded)
	}()
	return cs
}

// waitRecorded returns once the cgroups' layout is in the pod directory,
// where gc finds them, or the creation failed: the pod may move to run
// while they are made.
func (cs *cgroupsStart) waitRecorded() {
	<-cs.recorded
}

// wait returns what createCgroups made.
func (cs *cgroupsStart) wait() (*layout.Layout, []string, error) {
	<-cs.done
	return cs.layout, cs.warnings, cs.err
}

// remove waits for the creation and removes what it made: the pod did
// not run.
func (cs *cgroupsStart) remove() error {
	l, _, err := cs.wait()
	if err != nil || l == nil {
		return nil // Create removed what it made
	}
	return cgroup.Remove(l)
}

// RemoveCgroups kills whatever is left in an exited pod's cgroups and
// removes them.
func RemoveCgroups(p *pod.Pod) error {
	l, err := layout.Load(p.Dir)
	if err != nil || l == nil {
		return err
	}
	if err := cgroup.Kill(l, false, 10*time.Second); err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	if err := cgroup.Remove(l); err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	return nil
}
