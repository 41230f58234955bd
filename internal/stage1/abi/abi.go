package abi

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// InterfaceVersion is the stage1 interface version this rkt speaks: rkt
// 1.x's version 6 (adds --ipc to run).
const InterfaceVersion = 6

// FlavorBinaryPrefix begins the name of a flavor's full binary in the
// rootfs of the stage1 images this repository builds (tools/mkstage1):
// rootfs/stage1-<flavor>, beside the entrypoints' symlinks to it.
const FlavorBinaryPrefix = "stage1-"

// Annotations of a stage1 image manifest naming its entrypoints (paths
// inside the stage1 rootfs) and its interface version.
const (
	AnnotationRun              = "coreos.com/rkt/stage1/run"
	AnnotationEnter            = "coreos.com/rkt/stage1/enter"
	AnnotationGC               = "coreos.com/rkt/stage1/gc"
	AnnotationStop             = "coreos.com/rkt/stage1/stop"
	AnnotationAppAdd           = "coreos.com/rkt/stage1/app/add"
	AnnotationAppRm            = "coreos.com/rkt/stage1/app/rm"
	AnnotationAppStart         = "coreos.com/rkt/stage1/app/start"
	AnnotationAppStop          = "coreos.com/rkt/stage1/app/stop"
	AnnotationAttach           = "coreos.com/rkt/stage1/attach"
	AnnotationInterfaceVersion = "coreos.com/rkt/stage1/interface-version"
)

// Environment variables stage0 sets for stage1.
const (
	// EnvLockFD names the fd holding the pod directory's exclusive lock;
	// the run entrypoint keeps it open for the pod's whole life.
	EnvLockFD = "RKT_LOCK_FD"
	// EnvDebug is set to "1" with rkt --debug.
	EnvDebug = "RKT_DEBUG"
	// EnvMDSPort is the metadata service's TCP port, set with
	// --mds-token when the service is not on MDSPort (a stage1 that does
	// not know this variable uses MDSPort, as rkt 1.x's did).
	EnvMDSPort = "RKT_MDS_PORT"
)

// MDSPort is the metadata service's TCP port (rkt metadata-service
// --listen-port's default).
const MDSPort = 18112

// Files and directories of a pod directory, relative to it.
const (
	// PodManifest is the appc PodManifest stage0 wrote.
	PodManifest = "pod"
	// PodCreated is an empty file whose mtime is the pod's creation time.
	PodCreated = "pod-created"
	// PID holds the host PID of the pod's PID 1, written by stage1 once
	// the pod runs; its mtime is the start time.
	PID = "pid"
	// PPID is rkt 1.x's alternative to PID: a process with exactly one
	// child, the pod's PID 1. Our stage1 writes PID; readers accept both.
	PPID = "ppid"
	// NetInfo is the networks the pod is attached to.
	NetInfo = "net-info.json"
	// AppsInfo holds AppsInfo/<app>/ for each app.
	AppsInfo = "appsinfo"
	// Overlay holds Overlay/<app>/{upper,work} for overlay rootfses.
	Overlay = "overlay"
	// Stage2 holds Stage2/<app>/rootfs: where each app's rootfs is
	// assembled (an overlay mount point, or a copy with --no-overlay).
	Stage2 = "stage2"
	// Stage1Manifest and Stage1Rootfs are the stage1 image's manifest and
	// tree; the tree is a read-only bind mount of the stored image.
	Stage1Manifest = "stage1/manifest"
	Stage1Rootfs   = "stage1/rootfs"
	// Stage1Image holds the stored stage1 image's ID, so stage0 can bind
	// the tree again (after a reboot) to run the gc entrypoint.
	Stage1Image = "stage1/image"
	// Stage1State is the writable state directory of stage1 (rkt 1.x kept
	// it at stage1/rootfs/rkt, which is read-only here).
	Stage1State = "stage1/rkt"
	// StatusDir holds one file per app that exited: its exit code in
	// decimal, written by stage1.
	StatusDir = "stage1/rkt/status"
	// SupervisorStatus is a symlink to "ready" once every app started.
	SupervisorStatus = "stage1/rkt/supervisor-status"
	// MDSRegistered exists once stage0 registers the pod with the
	// metadata service (rkt 1.x's name); it holds the registration
	// socket's path, for gc to unregister the pod.
	MDSRegistered = "mds-registered"
)

// AppInfo files under AppsInfo/<app>/.
const (
	// AppLayers lists the app image's rendered layer trees (absolute
	// paths, or paths relative to the pod directory inside it), one a
	// line, bottom layer first.
	AppLayers = "layers"
	// AppImageID is the app image's ID.
	AppImageID = "image"
)

// RunArgs are the arguments of the run entrypoint.
type RunArgs struct {
	Debug        bool
	Net          string // "host", "none", "default", or network names
	Interactive  bool
	PrivateUsers string // SHIFT:COUNT, empty for none
	MDSToken     string
	LocalConfig  string
	Hostname     string
	// Disable* loosen the defaults (--insecure-options=capabilities, paths, seccomp).
	DisableCapabilities bool
	DisablePaths        bool
	DisableSeccomp      bool
	// DNSConfMode is "resolv=host|stage0|none|default,hosts=host|stage0|default".
	DNSConfMode string
	Mutable     bool
	IPC         string // "auto", "private" or "parent"
	UUID        string
}

// Argv renders the arguments, UUID last, as stage0 passes them.
func (a RunArgs) Argv() []string {
	var out []string
	add := func(name string, on bool) {
		if on {
			out = append(out, "--"+name)
		}
	}
	addv := func(name, v string) {
		if v != "" {
			out = append(out, "--"+name+"="+v)
		}
	}
	add("debug", a.Debug)
	addv("net", a.Net)
	add("interactive", a.Interactive)
	addv("private-users", a.PrivateUsers)
	addv("mds-token", a.MDSToken)
	addv("local-config", a.LocalConfig)
	addv("hostname", a.Hostname)
	add("disable-capabilities-restriction", a.DisableCapabilities)
	add("disable-paths", a.DisablePaths)
	add("disable-seccomp", a.DisableSeccomp)
	addv("dns-conf-mode", a.DNSConfMode)
	add("mutable", a.Mutable)
	addv("ipc", a.IPC)
	return append(out, a.UUID)
}

// ParseRunArgs parses the run entrypoint's arguments (without argv[0]).
func ParseRunArgs(args []string) (RunArgs, error) {
	var a RunArgs
	fs := newFlagSet("run")
	fs.BoolVar(&a.Debug, "debug", false, "")
	fs.StringVar(&a.Net, "net", "", "")
	fs.BoolVar(&a.Interactive, "interactive", false, "")
	fs.StringVar(&a.PrivateUsers, "private-users", "", "")
	fs.StringVar(&a.MDSToken, "mds-token", "", "")
	fs.StringVar(&a.LocalConfig, "local-config", "", "")
	fs.StringVar(&a.Hostname, "hostname", "", "")
	fs.BoolVar(&a.DisableCapabilities, "disable-capabilities-restriction", false, "")
	fs.BoolVar(&a.DisablePaths, "disable-paths", false, "")
	fs.BoolVar(&a.DisableSeccomp, "disable-seccomp", false, "")
	fs.StringVar(&a.DNSConfMode, "dns-conf-mode", "", "")
	fs.BoolVar(&a.Mutable, "mutable", false, "")
	fs.StringVar(&a.IPC, "ipc", "", "")
	uuid, err := parseWithUUID(fs, args)
	if err != nil {
		return RunArgs{}, err
	}
	switch a.IPC {
	case "", "auto", "private", "parent":
	default:
		return RunArgs{}, fmt.Errorf("run: invalid --ipc %q (want auto, private or parent)", a.IPC)
	}
	if _, err := ParseDNSConfMode(a.DNSConfMode); err != nil {
		return RunArgs{}, fmt.Errorf("run: %w", err)
	}
	a.UUID = uuid
	return a, nil
}

// EnterArgs are the arguments of the enter entrypoint:
// --pid=N --appname=A -- CMD ARGS...
type EnterArgs struct {
	PID     int
	AppName string
	Cmd     []string
}

// Argv renders the enter arguments.
func (a EnterArgs) Argv() []string {
	return append([]string{"--pid=" + strconv.Itoa(a.PID), "--appname=" + a.AppName, "--"}, a.Cmd...)
}

// ParseEnterArgs parses the enter entrypoint's arguments.
func ParseEnterArgs(args []string) (EnterArgs, error) {
	var a EnterArgs
	fs := newFlagSet("enter")
	fs.IntVar(&a.PID, "pid", 0, "")
	fs.StringVar(&a.AppName, "appname", "", "")
	if err := fs.Parse(args); err != nil {
		return EnterArgs{}, err
	}
	if a.PID <= 0 {
		return EnterArgs{}, errors.New("enter: --pid is required")
	}
	if a.AppName == "" {
		return EnterArgs{}, errors.New("enter: --appname is required")
	}
	if err := CheckACName(a.AppName); err != nil {
		return EnterArgs{}, fmt.Errorf("enter: invalid app name: %w", err)
	}
	a.Cmd = fs.Args()
	if len(a.Cmd) == 0 {
		return EnterArgs{}, errors.New("enter: no command given")
	}
	return a, nil
}

// GCArgs are the arguments of the gc entrypoint: [--debug]
// [--local-config=DIR] UUID.
type GCArgs struct {
	Debug       bool
	LocalConfig string
	UUID        string
}

// Argv renders the gc arguments.
func (a GCArgs) Argv() []string {
	var out []string
	if a.Debug {
		out = append(out, "--debug")
	}
	if a.LocalConfig != "" {
		out = append(out, "--local-config="+a.LocalConfig)
	}
	return append(out, a.UUID)
}

// ParseGCArgs parses the gc entrypoint's arguments.
func ParseGCArgs(args []string) (GCArgs, error) {
	var a GCArgs
	fs := newFlagSet("gc")
	fs.BoolVar(&a.Debug, "debug", false, "")
	fs.StringVar(&a.LocalConfig, "local-config", "", "")
	uuid, err := parseWithUUID(fs, args)
	a.UUID = uuid
	return a, err
}

// StopArgs are the arguments of the stop entrypoint: [--force] UUID.
type StopArgs struct {
	Force bool
	UUID  string
}

// Argv renders the stop arguments.
func (a StopArgs) Argv() []string {
	if a.Force {
		return []string{"--force", a.UUID}
	}
	return []string{a.UUID}
}

// ParseStopArgs parses the stop entrypoint's arguments.
func ParseStopArgs(args []string) (StopArgs, error) {
	var a StopArgs
	fs := newFlagSet("stop")
	fs.BoolVar(&a.Force, "force", false, "")
	uuid, err := parseWithUUID(fs, args)
	a.UUID = uuid
	return a, err
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseWithUUID parses flags followed by exactly one pod UUID.
func parseWithUUID(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() != 1 {
		return "", fmt.Errorf("%s: want exactly one pod UUID, got %d arguments", fs.Name(), fs.NArg())
	}
	uuid := fs.Arg(0)
	if !validUUID(uuid) {
		return "", fmt.Errorf("%s: %q is not a pod UUID", fs.Name(), uuid)
	}
	return uuid, nil
}

// validUUID accepts the canonical 36-character lowercase UUID form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
	}
	return true
}

// Files stage0 writes for stage1 in the pod directory before the run
// entrypoint starts (rkt's --dns* and --hosts-entry flags; rkt 1.x wrote
// them as stage1/rootfs/etc/rkt-{resolv.conf,hosts}).
const (
	// ResolvConf is the resolv.conf stage0 generated from --dns,
	// --dns-search, --dns-opt and --dns-domain (DNSConfMode resolv=stage0).
	ResolvConf = "stage1/rkt/resolv.conf"
	// HostsEntries holds the --hosts-entry lines ("IP\tHOST..."), which
	// stage1 appends to the generated default /etc/hosts (DNSConfMode
	// hosts=stage0).
	HostsEntries = "stage1/rkt/hosts"
)

// AppNoOverlay is an empty file under AppsInfo/<app>/ saying stage0 rendered
// the app's rootfs as a copy in Stage2/<app>/rootfs (--no-overlay):
// stage1 mounts no overlay on it.
const AppNoOverlay = "no-overlay"

// Values of the two parts of RunArgs.DNSConfMode.
const (
	DNSModeDefault = "default" // the flavor's default (resolv, hosts)
	DNSModeHost    = "host"    // bind the host's file read-only (resolv, hosts)
	DNSModeStage0  = "stage0"  // use the file stage0 wrote (resolv, hosts)
	DNSModeNone    = "none"    // leave the image's file alone (resolv only)
)

// DNSConf is RunArgs.DNSConfMode parsed.
type DNSConf struct {
	Resolv string // default, host, stage0 or none
	Hosts  string // default, host or stage0
}

// String renders the mode as stage0 passes it: "resolv=X,hosts=Y".
func (d DNSConf) String() string {
	r, h := d.Resolv, d.Hosts
	if r == "" {
		r = DNSModeDefault
	}
	if h == "" {
		h = DNSModeDefault
	}
	return "resolv=" + r + ",hosts=" + h
}

// ParseDNSConfMode parses "resolv=X,hosts=Y" (either part may be missing:
// default). The empty string is the default for both.
func ParseDNSConfMode(s string) (DNSConf, error) {
	d := DNSConf{Resolv: DNSModeDefault, Hosts: DNSModeDefault}
	if s == "" {
		return d, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "resolv" && (v == DNSModeDefault || v == DNSModeHost || v == DNSModeStage0 || v == DNSModeNone):
			d.Resolv = v
		case k == "hosts" && (v == DNSModeDefault || v == DNSModeHost || v == DNSModeStage0):
			d.Hosts = v
		default:
			return DNSConf{}, fmt.Errorf("invalid --dns-conf-mode %q: want resolv=default|host|stage0|none,hosts=default|host|stage0", s)
		}
	}
	return d, nil
}
