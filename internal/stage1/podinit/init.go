package podinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/cgroup/layout"
	"github.com/rkt/rkt/internal/isolation/mount"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// PidsDir holds pids/<app>: the host PID of each app, for enter.
const PidsDir = abi.Stage1State + "/pids"

// EnterDir holds enter/<app>: the EnterSpec of each app, so that enter
// gives its command exactly what the app has.
const EnterDir = abi.Stage1State + "/enter"

// EnterSpec is what an entered command gets from its app besides the
// namespaces (file EnterDir/<app>, which pod init writes): the app's
// HelperSpec without the app's own command, root, directory and terminal
// (Exec has App, Env, UID, GID and SupplementaryGIDs; enter sets Argv),
// and the app's user namespace mapping (--private-users), which the
// entered command gets too. With a mapping, enter passes it, Argv set, to
// the enter child (RoleEnterChild).
type EnterSpec struct {
	HelperSpec
	UsernsShift uint32 `json:"usernsShift,omitempty"`
	UsernsSize  uint32 `json:"usernsSize,omitempty"`
}

// initRoot is the empty root pod init pivots to once the apps run.
const initRoot = abi.Stage1State + "/init-root"

// stateDirs are pod init's directories in the pod's stage1 state, and
// their modes.
var stateDirs = []struct {
	path string
	mode os.FileMode
}{
	{abi.StatusDir, 0o750}, {PidsDir, 0o750}, {EnterDir, 0o750}, {abi.Stage1State + "/etc", 0o750}, {initRoot, 0o700},
}

// MakeStateDirs makes pod init's directories in the pod directory (the
// working directory), those that are not there yet. Pod init makes them
// itself; the run process makes them too while pod init starts, which
// takes the work off pod init's way to the apps.
func MakeStateDirs() error {
	for _, d := range stateDirs {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// EnvStopTimeout overrides the stop timeout (a Go duration, e.g. "2s").
const EnvStopTimeout = "RKT_STAGE1_STOP_TIMEOUT"

// DefaultStopTimeout is how long apps get between SIGTERM and SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// ExitPodInitFailed is pod init's exit code when it could not set the pod up.
const ExitPodInitFailed = 254

type initState struct {
	cfg     Config
	start   time.Time
	status  int            // fd of abi.StatusDir
	memDirs map[string]int // app -> fd of its memory cgroup directory
	userns  *userns        // --private-users, else nil
	// failedApp could not be started; failedCode is its exit code.
	failedApp  string
	failedCode int
	// plans and cgs are the apps' plans and cgroups, for event handlers.
	plans map[string]AppPlan
	cgs   *layout.Layout
	// signals is closed once pod init gets its signals (sigc).
	signals chan struct{}
	// layout and manifest wait for the pod's cgroups and manifest, read
	// in goroutines from pod init's start.
	layout   func() (*layout.Layout, error)
	manifest func() (*PodManifest, error)
}

// async runs f in a goroutine; the function it returns waits for f's
// result, as often as it is called.
func async[T any](f func() (T, error)) func() (T, error) {
	done := make(chan struct{})
	var v T
	var err error
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}

// readPodManifest reads and parses the pod's manifest.
func readPodManifest() (*PodManifest, error) {
	data, err := os.ReadFile(abi.PodManifest)
	if err != nil {
		return nil, fmt.Errorf("reading the pod manifest: %w", err)
	}
	pm, err := ParsePodManifest(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the pod manifest: %w", err)
	}
	return pm, nil
}

func (s *initState) debugf(format string, args ...any) {
	if s.cfg.Debug {
		fmt.Fprintf(os.Stderr, "stage1: pod init: +%v "+format+"\n", append([]any{time.Since(s.start).Round(time.Microsecond)}, args...)...)
	}
}

// PodInitMain is the pod init role: PID 1 of the pod's PID namespace, in
// the pod's own mount, UTS and IPC (and maybe net) namespaces, with cwd =
// the pod dir. args is empty: the Config comes as JSON on ConfigFD.
func PodInitMain(args []string) int {
	// The main thread is pod init as /proc/1 shows it: the goroutines
	// that change their thread for good (an app's start, the user
	// namespace) keep off it (onSpareThread), so the main goroutine need
	// not hold it.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	s := &initState{start: time.Now(), status: -1}
	if len(args) != 0 {
		fmt.Fprintln(os.Stderr, "stage1: pod init: want no argument (the configuration comes on fd 3)")
		return ExitPodInitFailed
	}
	// The pod manifest, read while the configuration comes.
	s.manifest = async(readPodManifest)
	if err := ReadConfig(ConfigFD, &s.cfg); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: pod init: %v\n", err)
		return ExitPodInitFailed
	}
	// os/signal starts threads of its own (about 0.3 ms here): in a
	// goroutine, while setup waits in its system calls and while the
	// apps start. supervise begins once it is done, and reaps first
	// whatever exited before (a SIGCHLD before signal.Notify is lost).
	// Until then a SIGTERM, SIGINT or SIGHUP ends pod init, and with it
	// the pod, as it does before the apps start; the pod says it is
	// ready only after.
	sigc := make(chan os.Signal, 16)
	s.signals = make(chan struct{})
	go func() {
		signal.Notify(sigc, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
		close(s.signals)
	}()
	// The cgroups' layout, read while setup goes on (startApps needs it).
	s.layout = async(func() (*layout.Layout, error) { return layout.Load(".") })
	apps, hide, err := s.setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "stage1: %v\n", err)
		_ = unix.Kill(-1, unix.SIGKILL)
		return ExitPodInitFailed
	}
	if hide != nil {
		// While the apps run, and while pod init reaps one that exits at
		// once: its exit does not wait for the pivot.
		go func() {
			if err := hide(); err != nil {
				fmt.Fprintf(os.Stderr, "stage1: %v\n", err)
				_ = unix.Kill(-1, unix.SIGKILL)
				os.Exit(ExitPodInitFailed)
			}
		}()
	}
	if s.failedApp != "" {
		s.recordStatus(s.failedApp, s.failedCode)
	}
	<-s.signals
	code := supervise(apps, s.failedCode, s.cfg.StopTimeout, sigc, s.afterApp, DropCodePages, s.debugf)
	s.debugf("pod exits with %d", code)
	return code
}

// setup sets the pod up and starts its apps. It returns them, and what
// hides the host from pod init once they run (nil when pod init keeps its
// root, for a post-stop handler).
func (s *initState) setup() (map[int]string, func() error, error) {
	if err := mount.MakeRPrivate(); err != nil {
		return nil, nil, err
	}
	if err := unix.Sethostname([]byte(s.cfg.Hostname)); err != nil {
		return nil, nil, fmt.Errorf("setting the hostname: %w", err)
	}
	if s.cfg.Net == "none" {
		if err := LoopbackUp(); err != nil {
			return nil, nil, err
		}
	}
	pm, err := s.manifest()
	if err != nil {
		return nil, nil, err
	}
	if len(pm.Apps) == 0 {
		return nil, nil, errors.New("the pod has no apps")
	}
	if s.cfg.Interactive && len(pm.Apps) != 1 {
		return nil, nil, fmt.Errorf("--interactive needs exactly one app, the pod has %d", len(pm.Apps))
	}
	plans := make([]AppPlan, 0, len(pm.Apps))
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		ld, err := os.ReadFile(abi.AppsInfo + "/" + ra.Name + "/" + abi.AppLayers)
		if err != nil {
			return nil, nil, fmt.Errorf("app %q: reading its layers: %w", ra.Name, err)
		}
		p, err := PlanApp(pm, ra, ParseLayers(string(ld)), s.cfg)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Lstat(abi.AppsInfo + "/" + ra.Name + "/" + abi.AppNoOverlay); err == nil {
			p.NoOverlay = true
		}
		plans = append(plans, p)
	}
	// The apps' overlays, made while the rest of setup goes on. Not with
	// --private-users: its apps' overlays are mounted idmapped, and an
	// overlay's upper and work directories serve one volatile mount only.
	overlays := func() (premade, error) { return premade{}, nil }
	if s.cfg.UsernsSize == 0 {
		overlays = async(func() (premade, error) { return makeOverlays(plans), nil })
	}
	fresh, err := makeSharedVolumes(podVolumes(pm))
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.UsernsSize > 0 {
		if s.userns, err = newUserns(s.cfg.UsernsShift, s.cfg.UsernsSize); err != nil {
			return nil, nil, err
		}
	}
	if err := MakeStateDirs(); err != nil {
		return nil, nil, err
	}
	// What rkt enter gives an entered command, written while the apps'
	// roots are mounted; done before the pod says it is ready.
	entered := make(chan error, 1)
	go func() { entered <- s.writeEnterSpecs(plans) }()
	made, _ := overlays()
	for _, n := range made.notes {
		s.debugf("%s", n)
	}
	premade := made.fds
	defer func() {
		for _, fd := range premade {
			unix.Close(fd)
		}
	}()
	written := map[string]bool{}
	for _, p := range plans {
		for _, f := range p.Files {
			if written[f.Path] {
				continue // a pod-wide file, already there
			}
			written[f.Path] = true
			if err := os.MkdirAll(f.Path[:strings.LastIndexByte(f.Path, '/')], 0o750); err != nil {
				return nil, nil, err
			}
			if err := WriteAtomic(f.Path, []byte(f.Content)); err != nil {
				return nil, nil, err
			}
		}
		fd, ok := premade[p.Name]
		if !ok {
			fd = -1
		}
		delete(premade, p.Name)
		if err := p.execute(fresh, s.userns, fd, s.debugf); err != nil {
			return nil, nil, err
		}
	}
	s.debugf("mounts done")
	st, err := unix.Open(abi.StatusDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the status dir: %w", err)
	}
	s.status = st
	apps, err := s.startApps(plans)
	if err != nil {
		return nil, nil, err
	}
	s.debugf("apps started")
	if s.cfg.Debug {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.debugf("heap: total alloc %d KiB, in use %d KiB, sys %d KiB, mallocs %d", ms.TotalAlloc>>10, ms.HeapInuse>>10, ms.HeapSys>>10, ms.Mallocs)
	}
	if err := <-entered; err != nil {
		return nil, nil, err
	}
	// Ready means a stop is taken in order: once the signals are caught.
	<-s.signals
	if err := os.Symlink("ready", abi.SupervisorStatus); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, nil, err
	}
	// A post-stop handler starts like an app, from the pod dir: pod init
	// keeps its root then (it is non-dumpable, and the apps have no
	// CAP_SYS_PTRACE, so /proc/1/root stays closed to them anyway).
	for _, p := range s.plans {
		if p.PostStop != nil {
			s.debugf("app %q has a post-stop handler: pod init keeps its root", p.Name)
			return apps, nil, nil
		}
	}
	return apps, hideHost, nil
}

// writeEnterSpecs writes each app's EnterSpec (EnterDir/<app>).
func (s *initState) writeEnterSpecs(plans []AppPlan) error {
	for _, p := range plans {
		es, err := json.Marshal(EnterSpec{HelperSpec: HelperSpec{Exec: ExecSpec{
			App: p.Exec.App, Env: p.Exec.Env, UID: p.Exec.UID, GID: p.Exec.GID, SupplementaryGIDs: p.Exec.SupplementaryGIDs,
		}, Security: p.Security}, UsernsShift: s.cfg.UsernsShift, UsernsSize: s.cfg.UsernsSize})
		if err != nil {
			return err
		}
		if err := WriteAtomic(EnterDir+"/"+p.Name, es); err != nil {
			return err
		}
	}
	return nil
}

// hideHost pivots pod init to an empty root, leaving nothing of the host
// visible through /proc/1/root. Pod init needs no path after its apps
// started: what it writes later, it writes through descriptors it opened
// before (the status directory, the apps' memory cgroups).
func hideHost() error {
	emptyRoot := initRoot // made by MakeStateDirs
	if err := mount.MountTmpfs(emptyRoot, "mode=0500,size=4k"); err != nil {
		return err
	}
	// A coverage build (scripts/cover.sh) writes its counters at exit,
	// to the GOCOVERDIR it read at start: keep that path reachable after
	// the pivot.
	if d := os.Getenv("GOCOVERDIR"); strings.HasPrefix(d, "/") {
		if err := os.MkdirAll(emptyRoot+d, 0o700); err == nil { //nolint:gosec // G703: GOCOVERDIR, set by whoever runs a coverage build
			if fd, err := mount.OpenDir(emptyRoot + d); err == nil {
				_ = mount.Bind(d, fd, false, 0)
				unix.Close(fd)
			}
		}
	}
	return mount.PivotRoot(emptyRoot)
}

// startApps starts the apps in order (see startApp) and records their host
// PIDs. When one cannot be started, the later ones are not: its name and
// exit code are kept for supervise, which stops the pod as when an app
// fails.
func (s *initState) startApps(plans []AppPlan) (map[int]string, error) {
	cgs, err := s.layout()
	if err != nil {
		return nil, err
	}
	s.memDirs = memoryDirs(cgs)
	s.cgs, s.plans = cgs, make(map[string]AppPlan, len(plans))
	apps := map[int]string{}
	for _, p := range plans {
		s.plans[p.Name] = p
		cg := appCgroupOf(cgs, p.Name)
		if cg.version == 2 {
			// A v2 process is in one cgroup, all its threads with it: pod
			// init joins the app's for the fork, then goes back.
			if err := joinV2(cg.dirs[0]); err != nil {
				return apps, fmt.Errorf("app %q: joining its cgroup: %w", p.Name, err)
			}
		}
		// oom_score_adj is per process, so not set on the forking
		// thread: pod init takes the app's for the fork (the app inherits
		// it from its first instruction) and goes back to its own.
		restore, err := takeOOMScoreAdj(p.Security.OOMScoreAdj)
		if err != nil {
			return apps, fmt.Errorf("app %q: setting oom_score_adj to %d: %w", p.Name, *p.Security.OOMScoreAdj, err)
		}
		code := 0
		if p.PreStart != nil {
			code = s.runHandler(p, PreStart, p.PreStart, cg)
		}
		pid, pidfd := -1, -1
		if code == 0 {
			pid, pidfd, code = startApp(p.Exec, p.Security, cg, s.userns, os.Stdin)
		}
		if err := restore(); err != nil {
			return apps, fmt.Errorf("app %q: restoring pod init's oom_score_adj: %w", p.Name, err)
		}
		if cg.version == 2 {
			if err := joinV2(cgs.Dirs[""] + "/" + layout.InitName); err != nil {
				return apps, fmt.Errorf("leaving the cgroup of app %q: %w", p.Name, err)
			}
		}
		if code != 0 {
			s.failedApp, s.failedCode = p.Name, code
			break
		}
		apps[pid] = p.Name
		if pidfd < 0 {
			return apps, fmt.Errorf("app %q: no pidfd (Linux 5.2 or later is needed)", p.Name)
		}
		hostPID, err := hostPIDOf(pidfd)
		unix.Close(pidfd)
		if err != nil {
			return apps, fmt.Errorf("app %q: finding its host PID: %w", p.Name, err)
		}
		if err := WriteAtomic(PidsDir+"/"+p.Name, []byte(strconv.Itoa(hostPID))); err != nil {
			return apps, err
		}
	}
	return apps, nil
}

// runHandler runs an event handler of an app in the app's context and
// waits for it, at most the stop timeout (then it is killed); its exit
// code is returned.
func (s *initState) runHandler(p AppPlan, event string, argv []string, cg appCgroup) int {
	spec := p.Exec
	spec.Argv, spec.Interactive = argv, false
	pid, pidfd, code := startApp(spec, p.Security, cg, s.userns, nil)
	if code != 0 {
		return code
	}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	timeout := s.cfg.StopTimeout
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	timer := time.AfterFunc(timeout, func() { _ = unix.Kill(pid, unix.SIGKILL) })
	ws, err := Wait(pid)
	timer.Stop()
	if err != nil {
		return ExitSetupFailed
	}
	code = ExitCode(ws)
	s.debugf("app %q: %s handler exited with %d", p.Name, event, code)
	return code
}

// afterApp is what supervise calls for each app that exited: its
// post-stop handler (in its cgroup), then its status.
func (s *initState) afterApp(app string, code int) {
	if p, ok := s.plans[app]; ok && p.PostStop != nil {
		cg := appCgroupOf(s.cgs, app)
		joined := cg.version == 2 && joinV2(cg.dirs[0]) == nil
		s.runHandler(p, PostStop, p.PostStop, cg)
		if joined {
			if err := joinV2(s.cgs.Dirs[""] + "/" + layout.InitName); err != nil {
				s.debugf("leaving the cgroup of app %q: %v", app, err)
			}
		}
	}
	s.recordStatus(app, code)
}

// takeOOMScoreAdj sets this process's oom_score_adj to adj (when not nil)
// and returns what puts the old value back. Going back down to our own
// value needs no privilege (the kernel allows lowering to the lowest
// value a privileged process set); going below it needs
// CAP_SYS_RESOURCE.
func takeOOMScoreAdj(adj *int) (func() error, error) {
	if adj == nil {
		return func() error { return nil }, nil
	}
	const f = "/proc/self/oom_score_adj"
	old, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(f, []byte(strconv.Itoa(*adj)), 0); err != nil {
		return nil, err
	}
	return func() error { return os.WriteFile(f, old, 0) }, nil //nolint:gosec // G703: a constant procfs path; old is what it held
}

// appCgroup is where an app's process starts: its cgroup directory in
// each hierarchy (none when the pod has no cgroups).
type appCgroup struct {
	version int
	dirs    []string
}

func appCgroupOf(l *layout.Layout, app string) appCgroup {
	if l == nil || !slices.Contains(l.Apps, app) {
		return appCgroup{}
	}
	dirs := l.AppDirs(app)
	if len(dirs) == 0 {
		return appCgroup{} // the app stays in the pod's cgroup
	}
	return appCgroup{version: l.Version, dirs: dirs}
}

// joinV2 moves this whole process into a cgroup v2 directory.
func joinV2(dir string) error {
	return os.WriteFile(dir+"/cgroup.procs", []byte("0"), 0)
}

// memoryDirs opens the memory cgroup directory of every app (pod init
// pivots away from the host's /sys/fs/cgroup once the apps run).
func memoryDirs(l *layout.Layout) map[string]int {
	out := map[string]int{}
	if l == nil {
		return out
	}
	d, ok := l.Dirs["memory"]
	if l.Version == 2 {
		d, ok = l.Dirs[""]
	}
	if !ok {
		return out
	}
	for _, app := range l.Apps {
		fd, err := unix.Open(d+"/"+app, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			out[app] = fd
		}
	}
	return out
}

// oomKilled reports whether the kernel's OOM killer killed a process in
// the app's memory cgroup (its limit was reached): the oom_kill count of
// memory.events (v2) or memory.oom_control (v1).
func oomKilled(dirfd int) bool {
	for _, f := range []string{"memory.events", "memory.oom_control"} {
		fd, err := unix.Openat(dirfd, f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		buf := make([]byte, 4096)
		n, _ := unix.Read(fd, buf)
		unix.Close(fd)
		for _, line := range strings.Split(string(buf[:max(n, 0)]), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok && strings.TrimSpace(v) != "0" {
				return true
			}
		}
	}
	return false
}

// hostPIDOf reads the PID in the host's PID namespace of the process a
// pidfd refers to, from the pidfd's fdinfo in the procfs mounted at /proc
// (still the host's): its NSpid line lists the PID in every namespace from
// the host's down. The process must not have been reaped yet.
func hostPIDOf(pidfd int) (int, error) {
	data, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
			fs := strings.Fields(f)
			if len(fs) > 0 {
				if pid, err := strconv.Atoi(fs[0]); err == nil && pid > 0 {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no PID in the fdinfo of pidfd %d", pidfd)
}

// recordStatus writes status/<app> atomically through the status dir fd
// opened before the pivot.
func (s *initState) recordStatus(app string, code int) {
	s.debugf("app %q exited with %d", app, code)
	if fd, ok := s.memDirs[app]; ok && code == 128+int(unix.SIGKILL) && oomKilled(fd) {
		fmt.Fprintf(os.Stderr, "stage1: app %q was killed by the OOM killer: it reached its memory limit\n", app)
	}
	tmp := "." + app + ".tmp"
	fd, err := unix.Openat(s.status, tmp, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err == nil {
		_, err = unix.Write(fd, []byte(strconv.Itoa(code)))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = unix.Renameat(s.status, tmp, s.status, app)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "stage1: writing the status of app %q: %v\n", app, err)
	}
}

// supervise reaps every process of the pod until all apps exited, stopping
// the others when the first one fails or when asked to stop, and returns
// the pod's exit code: the code of the first app that failed on its own (an
// app killed by the stop signals the pod sent does not count), else 0.
//
// A non-zero first is the code of an app that failed before supervise
// began: the pod stops at once. trim, when not nil, is called once the
// pod has run for TrimDelay.
func supervise(apps map[int]string, first int, timeout time.Duration, sigc <-chan os.Signal, record func(string, int), trim func(), debugf func(string, ...any)) int {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	stopping := false
	var killTimer <-chan time.Time
	stop := func(why string) {
		if stopping {
			return
		}
		debugf("stopping the pod: %s", why)
		stopping = true
		_ = unix.Kill(-1, unix.SIGTERM)
		killTimer = time.After(timeout)
	}
	reap := func() {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				return
			}
			app, ok := apps[pid]
			if !ok {
				continue
			}
			delete(apps, pid)
			code := ExitCode(ws)
			record(app, code)
			ourKill := stopping && ws.Signaled() && (ws.Signal() == unix.SIGTERM || ws.Signal() == unix.SIGKILL)
			if code != 0 && first == 0 && !ourKill {
				first = code
				stop(fmt.Sprintf("app %q exited with %d", app, code))
			}
		}
	}
	if first != 0 {
		stop(fmt.Sprintf("an app could not start (%d)", first))
	}
	reap()
	// Once the pod has run for TrimDelay, pod init only waits: trim.
	trimTimer := time.NewTimer(TrimDelay)
	defer trimTimer.Stop()
	for len(apps) > 0 {
		select {
		case <-trimTimer.C:
			if trim != nil {
				trim()
			}
		case sig := <-sigc:
			if sig == unix.SIGCHLD {
				reap()
			} else {
				stop("got " + sig.String())
			}
		case <-killTimer:
			debugf("stop timeout: killing the apps")
			_ = unix.Kill(-1, unix.SIGKILL)
		}
	}
	return first
}

// podVolumes lists the pod's volumes, then the implicit volumes of the
// apps' image mount points (AppVolume), each name once.
func podVolumes(pm *PodManifest) []Volume {
	out := slices.Clone(pm.Volumes)
	seen := map[string]bool{}
	for _, v := range out {
		seen[v.Name] = true
	}
	for _, ra := range pm.Apps {
		for _, m := range ra.Mounts {
			if m.AppVolume != nil && !seen[m.AppVolume.Name] {
				seen[m.AppVolume.Name] = true
				out = append(out, *m.AppVolume)
			}
		}
	}
	return out
}

// makeSharedVolumes creates the empty volumes that do not exist yet and
// returns the set of those it created (relative to the pod dir).
func makeSharedVolumes(vols []Volume) (map[string]bool, error) {
	fresh := map[string]bool{}
	for _, v := range vols {
		if v.Kind != VolumeEmpty {
			continue
		}
		if err := validName(v.Name); err != nil {
			return nil, fmt.Errorf("volume: %w", err)
		}
		mode := uint64(0o755)
		if v.Mode != nil {
			m, err := strconv.ParseUint(*v.Mode, 8, 32)
			if err != nil || m > 0o7777 {
				return nil, fmt.Errorf("volume %q: mode %q is not an octal file mode", v.Name, *v.Mode)
			}
			mode = m
		}
		uid, gid := 0, 0
		if v.UID != nil {
			uid = *v.UID
		}
		if v.GID != nil {
			gid = *v.GID
		}
		dir := SharedVolumeDir(v.Name)
		if err := os.MkdirAll(path.Dir(dir), 0o750); err != nil {
			return nil, err
		}
		err := os.Mkdir(dir, 0o700)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		fresh[dir] = true
		if err := unix.Fchownat(unix.AT_FDCWD, dir, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if err := unix.Fchmodat(unix.AT_FDCWD, dir, uint32(mode), 0); err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
	}
	return fresh, nil
}

// LoopbackUp sets lo up in the calling thread's network namespace.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}
