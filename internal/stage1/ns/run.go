package ns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// RunPlan is what PodConfig makes of the run arguments.
type RunPlan struct {
	// Config is pod init's configuration.
	Config podinit.Config
	// CloneFlags are the namespaces pod init is born in.
	CloneFlags uintptr
	// Nets are the CNI networks of --net (nil with host or no
	// networking).
	Nets []abi.NetRequest
	// MDS is the metadata service of --mds-token (nil for none). With
	// CNI networks the apps' AC_METADATA_URL waits for the host address
	// the networks give (setupNetworks).
	MDS *abi.MDSEndpoint
}

// PodConfig checks the run arguments and turns them into pod init's
// configuration, the clone flags of the pod and the networks to set up,
// or says why the flavor cannot run them.
func PodConfig(a abi.RunArgs, getenv func(string) string) (RunPlan, error) {
	cfg := podinit.Config{
		Hostname: a.Hostname, Interactive: a.Interactive, Debug: a.Debug, StopTimeout: podinit.DefaultStopTimeout,
		DisableCapabilities: a.DisableCapabilities, DisablePaths: a.DisablePaths, DisableSeccomp: a.DisableSeccomp,
	}
	var plan RunPlan
	reqs, err := abi.ParseNets([]string{a.Net})
	if err != nil {
		return plan, err
	}
	mode := abi.NetsMode(reqs)
	switch mode {
	case abi.NetHost:
		cfg.Net = abi.NetHost
	case abi.NetNone:
		cfg.Net = abi.NetNone
		if a.MDSToken != "" {
			return plan, errors.New("--mds-token: the metadata service cannot be reached from a pod with --net=none")
		}
	default:
		// Pod init is started inside the namespace the networks are
		// attached to (Run).
		cfg.Net = podinit.NetCNI
		plan.Nets = reqs
	}
	if a.PrivateUsers != "" {
		shift, size, err := parsePrivateUsers(a.PrivateUsers)
		if err != nil {
			return plan, err
		}
		cfg.UsernsShift, cfg.UsernsSize = shift, size
	}
	flags, err := abi.PodCloneFlags(mode, a.IPC)
	if err != nil {
		return plan, err
	}
	dns, err := abi.ParseDNSConfMode(a.DNSConfMode)
	if err != nil {
		return plan, err
	}
	cfg.ResolvMode, cfg.HostsMode = dns.Resolv, dns.Hosts
	if a.MDSToken != "" {
		// Checked here, before any network is set up.
		e, err := abi.ParseMDSEndpoint(a.MDSToken, getenv)
		if err != nil {
			return plan, err
		}
		plan.MDS = &e
		if cfg.Net == abi.NetHost {
			// The pod shares the host's network: the service is on its
			// loopback, as with rkt 1.x.
			if cfg.MetadataURL, err = e.URL("127.0.0.1"); err != nil {
				return plan, err
			}
		}
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "rkt-" + a.UUID
	}
	if !podinit.ValidHostname(cfg.Hostname) {
		return plan, fmt.Errorf("invalid hostname %q", cfg.Hostname)
	}
	if v := getenv(podinit.EnvStopTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return plan, fmt.Errorf("%s=%q is not a positive duration", podinit.EnvStopTimeout, v)
		}
		cfg.StopTimeout = d
	}
	plan.Config, plan.CloneFlags = cfg, flags
	return plan, nil
}

// Run is the run entrypoint: cwd is the pod dir. It starts pod init in new
// namespaces and stays as the pod's root process until pod init exits.
func Run(args []string) int {
	start := time.Now()
	a, err := abi.ParseRunArgs(args)
	if err != nil {
		return fail("%v", err)
	}
	plan, err := PodConfig(a, os.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	if len(plan.Nets) > 0 && !haveCNI {
		// Before anything is done: the full binary runs the pod.
		return handOver("CNI networks")
	}
	cfg, cloneflags := plan.Config, plan.CloneFlags
	debugf := func(format string, args ...any) {
		if cfg.Debug {
			fmt.Fprintf(os.Stderr, "stage1: run: +%v "+format+"\n", append([]any{time.Since(start).Round(time.Microsecond)}, args...)...)
		}
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Every fd we inherited (the lock fd included, which we keep) is closed
	// on exec, so neither pod init nor an app inherits it.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail("close_range: %v", err)
	}
	if v := os.Getenv(abi.EnvLockFD); v != "" {
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 0 {
			return fail("%s=%q is not a file descriptor", abi.EnvLockFD, v)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return fail("%s=%d: %v", abi.EnvLockFD, fd, err)
		}
	}
	if err := hostDNSFiles(&cfg); err != nil {
		return fail("%v", err)
	}
	if a.Interactive {
		if tty, err := os.Readlink("/proc/self/fd/0"); err == nil && len(tty) > 5 && tty[:5] == "/dev/" {
			cfg.TTY = tty
		}
	}
	var leaveNets func() error // nil without networks
	nsPath := ""
	if cfg.Net == podinit.NetCNI {
		leaveNets, nsPath, err = setupNetworks(a, plan, &cfg, debugf)
		if err != nil {
			return fail("failed to setup network: %v", err)
		}
		debugf("networks joined")
	}
	// Whatever happens from here on, the networks are left at the end.
	teardown := func() {
		if leaveNets == nil {
			return
		}
		if err := leaveNets(); err != nil {
			fmt.Fprintf(os.Stderr, "stage1: %v (rkt gc tries again)\n", err)
		}
		leaveNets = nil
	}
	defer teardown()
	// Pod init is started first (or was, by stage0) and given its
	// configuration while its runtime starts: encoding the configuration
	// and setting up the signals here overlap its start.
	pi, err := podInit(cloneflags, nsPath, debugf)
	if err != nil {
		return fail("%v", err)
	}
	pid, cfgW := pi.PID, pi.ConfigFD
	// killInit stops a pod init that started, once this process gives up.
	killInit := func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = podinit.Wait(pid)
	}
	// The pid file is there before pod init has its configuration, so
	// before the pod can say it is ready: a stop after ready finds it.
	if err := podinit.WriteAtomic(abi.PID, []byte(strconv.Itoa(pid))); err != nil {
		unix.Close(cfgW)
		killInit()
		return fail("writing %s: %v", abi.PID, err)
	}
	// Pod init reads its configuration from the pipe as soon as its
	// runtime has started; until then the pipe's buffer holds it (and a
	// larger one waits for its reads).
	// Its MarshalJSON, not json.Marshal: encoding/json, cold in every
	// process, is not needed on the way to pod init's start.
	cfgJSON, err := cfg.MarshalJSON()
	if err != nil {
		unix.Close(cfgW)
		killInit()
		return fail("%v", err)
	}
	if err := podinit.WriteConfig(cfgW, cfgJSON); err != nil {
		killInit()
		return fail("pod init: %v", err)
	}
	// Pod init's directories, made while it starts: it makes those still
	// missing when it gets to them.
	if err := podinit.MakeStateDirs(); err != nil {
		debugf("%v", err)
	}
	// Nothing runs from the stage1 tree's path any more (pod init was
	// exec'd, and its helpers exec /proc/self/exe) but the CNI plugins of
	// the teardown: without networks, the host's bind of the tree goes
	// now rather than on the way out, while pod init starts. stage0 binds
	// it again when it needs an entrypoint (enter, stop, gc).
	if leaveNets == nil {
		detachStage1(debugf)
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	debugf("pod init started as PID %d", pid)
	// Signals go to pod init until it has exited; after that (while the
	// networks are torn down) its PID may be another process's, and a
	// signal is ignored.
	var forward sync.Mutex
	exited := false
	go func() {
		for s := range sigc {
			forward.Lock()
			if sig, ok := s.(unix.Signal); ok && !exited {
				_ = unix.Kill(pid, sig)
			}
			forward.Unlock()
		}
	}()
	// From here on this process only waits, as long as the pod lives:
	// once the pod has run a while, it trims.
	trim := time.AfterFunc(podinit.TrimDelay, podinit.DropCodePages)
	// Wait without reaping, so the PID stays pod init's until no signal
	// can go to it any more.
	for {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	trim.Stop()
	forward.Lock()
	exited = true
	forward.Unlock()
	ws, err := podinit.Wait(pid)
	if err != nil {
		return fail("waiting for pod init: %v", err)
	}
	debugf("pod init exited: %v", ws)
	teardown()
	// Whatever bound the tree since (an enter, a stop; concurrent ones
	// stack their binds) goes too.
	detachStage1(debugf)
	if ws.Signaled() {
		sig := ws.Signal()
		signal.Reset(sig)
		_ = unix.Kill(os.Getpid(), sig)
		time.Sleep(100 * time.Millisecond)
		return 128 + int(sig)
	}
	return ws.ExitStatus()
}

// podInit returns the pod's PID 1 and this process's end of its
// configuration pipe: the pod init stage0 started
// (abi.EnvPodInit) when it was born in the namespaces this pod wants,
// else one started here, in the pod's network namespace (nsPath) when
// there is one.
func podInit(cloneflags uintptr, nsPath string, debugf func(string, ...any)) (abi.PodInit, error) {
	if e, ok := stage0PodInit(os.Getenv(abi.EnvPodInit), cloneflags, nsPath, debugf); ok {
		return e, nil
	}
	// Pdeathsig follows the thread that forked: keep this one. (The
	// parent of a pod init stage0 started is the thread that exec'd this
	// program, its main thread, which lives as long as the process; no
	// thread is locked then, which spares the runtime's template thread.)
	runtime.LockOSThread()
	// Pod init is born in the pod's network namespace: this thread enters
	// it for the fork and leaves it again.
	leaveNetNS := func() error { return nil }
	if nsPath != "" {
		var err error
		if leaveNetNS, err = enterNetNS(nsPath); err != nil {
			return abi.PodInit{}, err
		}
	}
	// argv[0] is the name the binary dispatches on, as for the pod init
	// stage0 starts: ps shows the same pod init either way.
	pi, err := abi.StartPodInit("/proc/self/exe", []string{"pod-init"}, cloneflags)
	if lerr := leaveNetNS(); lerr != nil {
		// This thread would run the plugins of the teardown in the pod's
		// namespace: give up on it, and on the pod.
		if err == nil {
			pi.Abandon()
		}
		return abi.PodInit{}, lerr
	}
	return pi, err
}

// stage0PodInit returns the pod init stage0 started, which v (the value
// of abi.EnvPodInit) tells of, when it was born in the namespaces this pod
// wants (cloneflags, and no network namespace of the run entrypoint's,
// nsPath). One born in others is killed, and its end closed. A value
// that does not parse, or whose PID is not this process's child, is not
// stage0's: nothing it names is touched.
func stage0PodInit(v string, cloneflags uintptr, nsPath string, debugf func(string, ...any)) (abi.PodInit, bool) {
	if v == "" {
		return abi.PodInit{}, false
	}
	switch e, err := abi.ParsePodInit(v); {
	case err != nil:
		debugf("ignoring %v", err)
	case !isChild(e.PID):
		debugf("ignoring %s=%s: %d is not a child of this process", abi.EnvPodInit, v, e.PID)
	case e.CloneFlags == cloneflags && nsPath == "":
		debugf("pod init %d started by stage0", e.PID)
		return e, true
	default:
		debugf("pod init %d of stage0 has namespaces %#x, not %#x, or the pod a network namespace: starting another", e.PID, e.CloneFlags, cloneflags)
		e.Abandon()
	}
	return abi.PodInit{}, false
}

// isChild reports whether pid is a child of this process (running, or
// exited and not yet waited for).
func isChild(pid int) bool {
	var info unix.Siginfo
	return unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil) == nil
}

// detachStage1 unmounts the host's bind of the pod's stage1 tree. An
// exited pod keeps no mount in the host's namespace: stage0 binds the
// tree again when it needs an entrypoint (gc, for one). Thousands of
// exited pods would otherwise make every mount table read, and so every
// gc, slow.
func detachStage1(debugf func(string, ...any)) {
	if err := mount.Detach(abi.Stage1Rootfs); err != nil {
		debugf("%v", err)
	}
}

// parsePrivateUsers reads --private-users=SHIFT:COUNT: a range of host
// IDs that is not the host's root and fits in 32 bits.
func parsePrivateUsers(v string) (shift, size uint32, err error) {
	a, b, ok := strings.Cut(v, ":")
	s, err1 := strconv.ParseUint(a, 10, 32)
	n, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil || s == 0 || n == 0 || n > 1<<16 || s+n > 1<<32-1 {
		return 0, 0, fmt.Errorf("--private-users=%q: want SHIFT:COUNT, a range of host IDs above 0 and at most 65536 long", v)
	}
	return uint32(s), uint32(n), nil
}

// hostDNSFiles fills in the host files and stage0's entries the DNS modes
// need. The host's resolv.conf is also the default with host networking.
func hostDNSFiles(cfg *podinit.Config) error {
	switch {
	case cfg.ResolvMode == abi.DNSModeHost:
		if _, err := os.Stat("/etc/resolv.conf"); err != nil {
			return fmt.Errorf("--dns=host: %w", err)
		}
		cfg.HostResolvConf = "/etc/resolv.conf"
	case cfg.ResolvMode == abi.DNSModeStage0:
		if _, err := os.Stat(abi.ResolvConf); err != nil {
			return fmt.Errorf("resolv=stage0: %w", err)
		}
	case cfg.ResolvMode == abi.DNSModeDefault && cfg.Net == "host":
		if _, err := os.Stat("/etc/resolv.conf"); err == nil {
			cfg.HostResolvConf = "/etc/resolv.conf"
		}
	}
	switch cfg.HostsMode {
	case abi.DNSModeHost:
		if _, err := os.Stat("/etc/hosts"); err != nil {
			return fmt.Errorf("--hosts-entry=host: %w", err)
		}
		cfg.HostHosts = "/etc/hosts"
	case abi.DNSModeStage0:
		data, err := os.ReadFile(abi.HostsEntries)
		if err != nil {
			return fmt.Errorf("hosts=stage0: %w", err)
		}
		if len(data) > 1<<20 {
			return fmt.Errorf("hosts=stage0: %s is larger than 1 MiB", abi.HostsEntries)
		}
		cfg.HostsEntries = string(data)
	}
	return nil
}

var errNoPod = errors.New("pod is not running")

// readPID reads a decimal PID file of the pod dir.
func readPID(p string) (int, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", p, errNoPod)
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(string(trimSpace(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: %q is not a PID", p, data)
	}
	return pid, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
