package podinit

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/internal/isolation/mount"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// NetCNI is Config.Net for a pod on CNI networks (the others are
// abi.NetHost and abi.NetNone).
const NetCNI = "cni"

// Config is what the run entrypoint hands pod init (as JSON on ConfigFD).
type Config struct {
	Hostname    string        `json:"hostname"`
	Net         string        `json:"net"`
	Interactive bool          `json:"interactive,omitempty"`
	TTY         string        `json:"tty,omitempty"` // host path of the caller's terminal
	StopTimeout time.Duration `json:"stopTimeout"`
	Debug       bool          `json:"debug,omitempty"`
	// HostResolvConf is the host's resolv.conf to bind into every app
	// (resolv=host, or resolv=default with net=host), empty for none.
	HostResolvConf string `json:"hostResolvConf,omitempty"`
	// ResolvMode and HostsMode are RunArgs.DNSConfMode's parts (empty:
	// default).
	ResolvMode string `json:"resolvMode,omitempty"`
	HostsMode  string `json:"hostsMode,omitempty"`
	// HostHosts is the host's /etc/hosts to bind into every app
	// (hosts=host).
	HostHosts string `json:"hostHosts,omitempty"`
	// HostsEntries are lines appended to the generated /etc/hosts
	// (hosts=stage0: the --hosts-entry values stage0 wrote).
	HostsEntries string `json:"hostsEntries,omitempty"`
	// PodIP is the pod's address on its first CNI network, which the
	// generated /etc/hosts gives the hostname.
	PodIP string `json:"podIP,omitempty"`
	// NetResolvConf is a resolv.conf made of a CNI network's DNS result
	// (resolv=default): it wins over a volume and the image's file.
	NetResolvConf string `json:"netResolvConf,omitempty"`
	// Disable* loosen the defaults (--insecure-options=capabilities,
	// paths, seccomp).
	DisableCapabilities bool `json:"disableCapabilities,omitempty"`
	DisablePaths        bool `json:"disablePaths,omitempty"`
	DisableSeccomp      bool `json:"disableSeccomp,omitempty"`
	// UsernsShift and UsernsSize (--private-users=SHIFT:COUNT): the apps
	// run in a user namespace where IDs 0..COUNT-1 are the host's
	// SHIFT..SHIFT+COUNT-1. Zero size: no user namespace.
	UsernsShift uint32 `json:"usernsShift,omitempty"`
	UsernsSize  uint32 `json:"usernsSize,omitempty"`
	// MetadataURL is every app's AC_METADATA_URL (--mds-token), empty
	// when the pod is not registered with the metadata service.
	MetadataURL string `json:"metadataURL,omitempty"`
}

// StepKind is the kind of one mount step.
type StepKind string

// The kinds of mount steps.
const (
	StepFS      StepKind = "fs"      // a new file system instance on a directory
	StepBind    StepKind = "bind"    // a bind mount of a host (or pod dir) path
	StepSymlink StepKind = "symlink" // a symlink
	// StepMask hides a path that exists: /dev/null bound over a file, an
	// empty read-only tmpfs over a directory.
	StepMask StepKind = "mask"
	// StepReadOnly binds a path that exists over itself, read-only.
	StepReadOnly StepKind = "readonly"
	// StepDevice makes a copy of the host's device node Source (type,
	// numbers, mode, owner) at Target, or binds it where device nodes
	// cannot be made (a user namespace, no right to mknod).
	StepDevice StepKind = "device"
)

// MaskedPaths are hidden from every app (podman's default set), unless
// --insecure-options=paths.
var MaskedPaths = []string{
	"/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
	"/proc/timer_stats", "/sys/dev/block", "/sys/devices/virtual/powercap",
	"/sys/firmware", "/sys/fs/selinux",
}

// ReadOnlyPaths are read-only in every app (podman's default set), unless
// --insecure-options=paths.
var ReadOnlyPaths = []string{
	"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// Step is one step of an app's mount plan. Target is always a path inside
// the app rootfs, resolved by file descriptor when the step runs.
type Step struct {
	Kind    StepKind
	Target  string
	FSType  string         // StepFS
	Options []mount.Option // StepFS
	Attrs   int            // MOUNT_ATTR_* for StepFS and StepBind
	// Source is a trusted host path, or a path relative to the pod dir.
	Source    string // StepBind, StepDevice
	Recursive bool   // StepBind
	// IfMissing skips a bind when the rootfs already has the target.
	IfMissing bool // StepBind
	// CopyUp marks the bind of an image volume's implicit empty volume:
	// the image's content at Target is copied into it when it is new.
	CopyUp bool   // StepBind
	Link   string // StepSymlink
	// Idmap: with --private-users, the bind is idmapped through the
	// pod's user namespace (volumes), so the app sees owners as the host
	// does without a chown.
	Idmap bool // StepBind
}

// CopyUp is the copy of the image's content at Target into the new empty
// volume Volume (a directory relative to the pod dir) before it is bound.
type CopyUp struct {
	Volume string
	Target string
}

// File is a file pod init generates in the pod directory.
type File struct {
	Path    string // relative to the pod dir
	Content string
}

// ExecSpec is what starting the app needs (see startApp).
type ExecSpec struct {
	App               string   `json:"app"`
	Rootfs            string   `json:"rootfs"` // relative to the pod dir
	Argv              []string `json:"argv"`
	Env               []string `json:"env"`
	WorkingDir        string   `json:"workingDir"`
	UID               int      `json:"uid"`
	GID               int      `json:"gid"`
	SupplementaryGIDs []int    `json:"supplementaryGIDs,omitempty"`
	Interactive       bool     `json:"interactive,omitempty"`
}

// AppPlan is everything pod init does for one app.
type AppPlan struct {
	Name        string
	Rootfs      string   // relative to the pod dir
	OverlayData string   // mount data of the overlay rootfs
	LowerDirs   []string // the overlay's layers (host paths), bottom first
	UpperDir    string   // the overlay's upper dir, relative to the pod dir
	// NoOverlay: stage0 rendered Rootfs as a copy (--no-overlay); it is
	// bound on itself instead of getting an overlay.
	NoOverlay    bool
	CopyUps      []CopyUp
	Files        []File
	Mounts       []Step
	ReadOnlyRoot bool
	Exec         ExecSpec
	Security     Security
	// PreStart and PostStop are the argv of the app's event handlers
	// (nil for none), run like Exec.
	PreStart, PostStop []string
}

// DefaultPath is rkt's default PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BuildEnv returns the app's environment: the manifest's (in order, a later
// duplicate wins), then rkt's defaults for the variables it does not set,
// then AC_APP_NAME and, for a pod registered with the metadata service
// (metadataURL not empty), AC_METADATA_URL: those two are rkt's, whatever
// the manifest says.
func BuildEnv(app string, env []EnvVar, metadataURL string) []string {
	var out []string
	idx := map[string]int{}
	set := func(k, v string) {
		if i, ok := idx[k]; ok {
			out[i] = k + "=" + v
			return
		}
		idx[k] = len(out)
		out = append(out, k+"="+v)
	}
	for _, e := range env {
		if e.Name == "AC_APP_NAME" || (e.Name == "AC_METADATA_URL" && metadataURL != "") {
			continue
		}
		set(e.Name, e.Value)
	}
	for _, d := range [][2]string{{"PATH", DefaultPath}, {"SHELL", "/bin/sh"}, {"USER", "root"}, {"LOGNAME", "root"}, {"HOME", "/root"}} {
		if _, ok := idx[d[0]]; !ok {
			set(d[0], d[1])
		}
	}
	set("AC_APP_NAME", app)
	if metadataURL != "" {
		set("AC_METADATA_URL", metadataURL)
	}
	return out
}

// LowerDir builds overlayfs' lowerdir value from layers given bottom first
// (the layers file's order): the top layer comes first. Paths must be
// absolute, or relative to the pod directory without leaving it, and free
// of the characters overlayfs treats specially.
func LowerDir(layers []string) (string, error) {
	parts, err := lowerLayers(layers)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, ":"), nil
}

// lowerLayers is LowerDir's checked and cleaned layers, top first.
func lowerLayers(layers []string) ([]string, error) {
	if len(layers) == 0 {
		return nil, errors.New("no layers")
	}
	parts := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		if !path.IsAbs(l) && (path.Clean(l) != l || l == ".." || strings.HasPrefix(l, "../")) {
			return nil, fmt.Errorf("layer path %q is neither absolute nor inside the pod", l)
		}
		if strings.ContainsAny(l, ":,\\\n\x00") {
			return nil, fmt.Errorf("layer path %q contains one of ':', ',', '\\' or a newline, which overlayfs cannot take", l)
		}
		parts = append(parts, path.Clean(l))
	}
	return parts, nil
}

// overlayDirs are the upper and work dirs of app name's overlay, relative
// to the pod dir.
func overlayDirs(name string) (upper, work string) {
	return abi.Overlay + "/" + name + "/upper", abi.Overlay + "/" + name + "/work"
}

// ParseLayers parses an appsinfo/<app>/layers file.
func ParseLayers(data string) []string {
	var out []string
	for _, l := range strings.Split(data, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// HostsFile is the generated /etc/hosts of a pod: the hostname is the
// pod's address, or 127.0.0.1 without one.
func HostsFile(hostname, ip string) string {
	if ip == "" {
		ip = "127.0.0.1"
	}
	return "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n" +
		"::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n" +
		"fe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n" +
		ip + "\t" + hostname + "\n"
}

// ValidHostname reports whether h is a usable host name (RFC 1123).
func ValidHostname(h string) bool {
	if h == "" || len(h) > 64 || h[0] == '-' || h[0] == '.' {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func numericID(s, what string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<31-2 {
		return 0, fmt.Errorf("%s %q is not a numeric ID (stage0 resolves names to numbers)", what, s)
	}
	return n, nil
}

func validName(n string) error {
	if n == "" || strings.ContainsAny(n, "/\x00") || n == "." || n == ".." {
		return fmt.Errorf("invalid name %q", n)
	}
	return nil
}

// PlanApp computes the plan for app ra of pod pm, whose image has the given
// rendered layers (bottom first).
func PlanApp(pm *PodManifest, ra *RuntimeApp, layers []string, cfg Config) (AppPlan, error) {
	name := ra.Name
	if err := validName(name); err != nil {
		return AppPlan{}, fmt.Errorf("app: %w", err)
	}
	fail := func(err error) (AppPlan, error) { return AppPlan{}, fmt.Errorf("app %q: %w", name, err) }
	if ra.App == nil || len(ra.App.Exec) == 0 {
		return fail(errors.New("no exec given"))
	}
	lower, err := LowerDir(layers)
	if err != nil {
		return fail(err)
	}
	upper, work := overlayDirs(name)
	p := AppPlan{
		Name:         name,
		LowerDirs:    slices.Clone(layers),
		UpperDir:     upper,
		Rootfs:       abi.Stage2 + "/" + name + "/rootfs",
		OverlayData:  "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work,
		ReadOnlyRoot: ra.ReadOnlyRootFS,
	}
	uid, err := numericID(ra.App.User, "user")
	if err != nil {
		return fail(err)
	}
	gid, err := numericID(ra.App.Group, "group")
	if err != nil {
		return fail(err)
	}
	for _, g := range ra.App.SupplementaryGIDs {
		if g < 0 || g > 1<<31-2 {
			return fail(fmt.Errorf("supplementary group %d is not a valid ID", g))
		}
	}
	wd := ra.App.WorkingDirectory
	if wd == "" {
		wd = "/"
	}
	if !path.IsAbs(wd) {
		return fail(fmt.Errorf("working directory %q is not absolute", wd))
	}
	p.Exec = ExecSpec{
		App: name, Rootfs: p.Rootfs, Argv: slices.Clone(ra.App.Exec),
		Env: BuildEnv(name, ra.App.Environment, cfg.MetadataURL), WorkingDir: wd,
		UID: uid, GID: gid, SupplementaryGIDs: slices.Clone(ra.App.SupplementaryGIDs),
		Interactive: cfg.Interactive,
	}
	for _, h := range ra.App.EventHandlers {
		switch h.Name {
		case PreStart:
			p.PreStart = slices.Clone(h.Exec)
		case PostStop:
			p.PostStop = slices.Clone(h.Exec)
		}
	}

	fs := func(target, fstype string, attrs int, opts ...mount.Option) Step {
		return Step{Kind: StepFS, Target: target, FSType: fstype, Attrs: attrs, Options: opts}
	}
	const nsd = mount.NoSuid | mount.NoDev
	// With a user namespace, the file systems made here belong to its
	// root, and the tty group is the namespace's 5.
	var owner []mount.Option
	ttyGID := uint32(5)
	if cfg.UsernsSize > 0 {
		id := strconv.FormatUint(uint64(cfg.UsernsShift), 10)
		owner = []mount.Option{{Key: "uid", Value: id}, {Key: "gid", Value: id}}
		ttyGID += cfg.UsernsShift
	}
	m := []Step{
		fs("/proc", "proc", nsd|mount.NoExec),
		fs("/sys", "sysfs", mount.ReadOnly|nsd|mount.NoExec),
		fs("/dev", "tmpfs", mount.NoSuid|mount.NoExec, append([]mount.Option{{Key: "mode", Value: "755"}, {Key: "size", Value: "65536k"}}, owner...)...),
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		m = append(m, Step{Kind: StepDevice, Target: "/dev/" + d, Source: "/dev/" + d})
	}
	m = append(m,
		fs("/dev/pts", "devpts", mount.NoSuid|mount.NoExec,
			mount.Option{Key: "ptmxmode", Value: "0666"}, mount.Option{Key: "mode", Value: "0620"}, mount.Option{Key: "gid", Value: strconv.FormatUint(uint64(ttyGID), 10)}),
		fs("/dev/shm", "tmpfs", nsd|mount.NoExec, append([]mount.Option{{Key: "mode", Value: "1777"}}, owner...)...),
		Step{Kind: StepSymlink, Target: "/dev/ptmx", Link: "pts/ptmx"},
		Step{Kind: StepSymlink, Target: "/dev/fd", Link: "/proc/self/fd"},
		Step{Kind: StepSymlink, Target: "/dev/stdin", Link: "/proc/self/fd/0"},
		Step{Kind: StepSymlink, Target: "/dev/stdout", Link: "/proc/self/fd/1"},
		Step{Kind: StepSymlink, Target: "/dev/stderr", Link: "/proc/self/fd/2"},
	)
	if cfg.Interactive && cfg.TTY != "" {
		m = append(m, Step{Kind: StepBind, Target: "/dev/console", Source: cfg.TTY})
	}
	// The same for every app: one copy per pod.
	etc := abi.Stage1State + "/etc"
	p.Files = []File{
		{Path: etc + "/hostname", Content: cfg.Hostname + "\n"},
		{Path: etc + "/hosts", Content: HostsFile(cfg.Hostname, cfg.PodIP) + cfg.HostsEntries},
	}
	const roFile = mount.ReadOnly | nsd | mount.NoExec
	m = append(m, Step{Kind: StepBind, Target: "/etc/hostname", Source: etc + "/hostname", Attrs: roFile})
	// Flags (modes host and stage0) win over a volume on the same path,
	// which wins over the image's file, which wins over the generated
	// /etc/hosts (mode default).
	override := map[string]bool{}
	switch cfg.HostsMode {
	case abi.DNSModeHost:
		if cfg.HostHosts == "" {
			return fail(errors.New("hosts=host but no host /etc/hosts was given"))
		}
		m = append(m, Step{Kind: StepBind, Target: "/etc/hosts", Source: cfg.HostHosts, Attrs: roFile})
		override["/etc/hosts"] = true
	case abi.DNSModeStage0:
		m = append(m, Step{Kind: StepBind, Target: "/etc/hosts", Source: etc + "/hosts", Attrs: roFile})
		override["/etc/hosts"] = true
	case "", abi.DNSModeDefault:
		m = append(m, Step{Kind: StepBind, Target: "/etc/hosts", Source: etc + "/hosts", IfMissing: true, Attrs: roFile})
	default:
		return fail(fmt.Errorf("unknown hosts mode %q", cfg.HostsMode))
	}
	switch cfg.ResolvMode {
	case abi.DNSModeHost:
		if cfg.HostResolvConf == "" {
			return fail(errors.New("resolv=host but no host resolv.conf was given"))
		}
		m = append(m, Step{Kind: StepBind, Target: "/etc/resolv.conf", Source: cfg.HostResolvConf, Attrs: roFile})
		override["/etc/resolv.conf"] = true
	case abi.DNSModeStage0:
		m = append(m, Step{Kind: StepBind, Target: "/etc/resolv.conf", Source: abi.ResolvConf, Attrs: roFile})
		override["/etc/resolv.conf"] = true
	case abi.DNSModeNone:
	case "", abi.DNSModeDefault:
		if cfg.NetResolvConf != "" {
			p.Files = append(p.Files, File{Path: etc + "/resolv.conf", Content: cfg.NetResolvConf})
			m = append(m, Step{Kind: StepBind, Target: "/etc/resolv.conf", Source: etc + "/resolv.conf", Attrs: roFile})
			override["/etc/resolv.conf"] = true
		} else if cfg.HostResolvConf != "" {
			m = append(m, Step{Kind: StepBind, Target: "/etc/resolv.conf", Source: cfg.HostResolvConf, Attrs: roFile})
		}
	default:
		return fail(fmt.Errorf("unknown resolv mode %q", cfg.ResolvMode))
	}

	vols, err := volumeMounts(pm, ra)
	if err != nil {
		return fail(err)
	}
	for _, v := range vols {
		if override[v.Target] {
			continue
		}
		if v.Kind == StepBind && v.CopyUp {
			p.CopyUps = append(p.CopyUps, CopyUp{Volume: v.Source, Target: v.Target})
		}
		v.Idmap = cfg.UsernsSize > 0
		m = append(m, v)
	}
	// Last, so that no volume mounted under /proc or /sys uncovers them.
	// An app without CAP_SYS_ADMIN cannot unmount them.
	if !cfg.DisablePaths {
		for _, t := range MaskedPaths {
			m = append(m, Step{Kind: StepMask, Target: t})
		}
		for _, t := range ReadOnlyPaths {
			m = append(m, Step{Kind: StepReadOnly, Target: t})
		}
	}
	p.Mounts = m
	sec, err := planSecurity(ra.App.Isolators, uid, cfg)
	if err != nil {
		return fail(err)
	}
	p.Security = sec
	return p, nil
}

// SharedVolumeDir is where an empty volume lives, relative to the pod dir.
func SharedVolumeDir(name string) string { return "sharedVolumes/" + name }

func volumeMounts(pm *PodManifest, ra *RuntimeApp) ([]Step, error) {
	byName := map[string]Volume{}
	for _, v := range pm.Volumes {
		byName[v.Name] = v
	}
	var out []Step
	for _, mnt := range ra.Mounts {
		v, ok := byName[mnt.Volume]
		if mnt.AppVolume != nil {
			v, ok = *mnt.AppVolume, true
		}
		if !ok {
			return nil, fmt.Errorf("mount %q: no such volume", mnt.Volume)
		}
		if !path.IsAbs(mnt.Path) {
			return nil, fmt.Errorf("mount %q: target %q is not absolute", mnt.Volume, mnt.Path)
		}
		ro := v.ReadOnly != nil && *v.ReadOnly
		for _, mp := range ra.App.MountPoints {
			if mp.Name == mnt.Volume && mp.ReadOnly {
				ro = true
			}
		}
		st := Step{Kind: StepBind, Target: path.Clean(mnt.Path), Recursive: true}
		if ro {
			st.Attrs = mount.ReadOnly
		}
		switch v.Kind {
		case VolumeHost:
			if !path.IsAbs(v.Source) {
				return nil, fmt.Errorf("volume %q: host source %q is not absolute", v.Name, v.Source)
			}
			st.Source = v.Source
			if v.Recursive != nil {
				st.Recursive = *v.Recursive
			}
		case VolumeEmpty:
			if err := validName(v.Name); err != nil {
				return nil, fmt.Errorf("volume: %w", err)
			}
			st.Source = SharedVolumeDir(v.Name)
			st.Recursive = false
			st.CopyUp = mnt.AppVolume != nil
		default:
			return nil, fmt.Errorf("volume %q: unknown kind %q", v.Name, v.Kind)
		}
		out = append(out, st)
	}
	// Parents before children.
	slices.SortStableFunc(out, func(a, b Step) int {
		return strings.Count(a.Target, "/") - strings.Count(b.Target, "/")
	})
	return out, nil
}
