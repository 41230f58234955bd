package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/mds/mdsclient"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// podFlags are the flags shared by run and prepare.
type podFlags struct {
	pull        pullPolicyFlag
	defaults    appArgs
	defaultVals *appFlagValues
	volumes     []string
	setEnv      []string
	setEnvFile  []string
	inheritEnv  bool
	stage1      stage0.Stage1Selection
	uuidFile    string
	podManifest string
	noOverlay   bool
	ports       []string
}

// podManifestConflicts are the flags --pod-manifest cannot be used with,
// as in rkt 1.x: the manifest says it all.
var podManifestConflicts = []string{"volume", "mount", "no-overlay", "port", "set-env", "set-env-file", "inherit-env", "pull-policy", "no-store", "store-only",
	"exec", "name", "user", "group", "working-dir", "supplementary-gids", "readonly-rootfs", "environment", "signature"}

func (pf *podFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	pf.pull.register(cmd, store.PullNew)
	pf.defaultVals = perAppFlags(fs, &pf.defaults)
	stringsVar(fs, &pf.volumes, "volume", "volumes to make available in the pod: NAME,kind=host,source=PATH[,readOnly=true][,recursive=true] or NAME,kind=empty[,mode=0755,uid=0,gid=0]")
	stringsVar(fs, &pf.setEnv, "set-env", "an environment variable for every app: NAME=VALUE")
	stringsVar(fs, &pf.setEnvFile, "set-env-file", "a file of NAME=VALUE lines for every app's environment")
	fs.BoolVar(&pf.inheritEnv, "inherit-env", false, "apps inherit rkt's environment (under the image's)")
	fs.StringVar(&pf.stage1.Path, "stage1-path", "", "a stage1 image file (absolute path)")
	fs.StringVar(&pf.stage1.URL, "stage1-url", "", "a stage1 image URL (file://)")
	fs.StringVar(&pf.stage1.Name, "stage1-name", "", "a stored stage1 image, by name")
	fs.StringVar(&pf.stage1.Hash, "stage1-hash", "", "a stored stage1 image, by ID")
	fs.StringVar(&pf.stage1.FromDir, "stage1-from-dir", "", "a stage1 image file name in the stage1 images directory")
	fs.StringVar(&pf.uuidFile, "uuid-file-save", "", "write the pod's UUID to this file")
	fs.BoolVar(&pf.noOverlay, "no-overlay", false, "render each app's rootfs as a copy of its image instead of an overlay")
	fs.StringVar(&pf.podManifest, "pod-manifest", "", "an appc PodManifest file to run as-is (its images must be in the store)")
	stringsVar(fs, &pf.ports, "port", "forward a host port to an app's port of that name (OCI images name theirs 80-tcp): NAME:[HOSTIP:]HOSTPORT (repeatable)")
	cmd.MarkFlagsMutuallyExclusive("stage1-path", "stage1-url", "stage1-name", "stage1-hash", "stage1-from-dir")
}

// prepareOptions turns the command line into stage0's options.
func (a *app) prepareOptions(cmd *cobra.Command, pf *podFlags, args []string) (stage0.PrepareOptions, error) {
	if err := pf.defaultVals.merge(cmd.Flags(), &pf.defaults); err != nil {
		return stage0.PrepareOptions{}, err
	}
	apps, err := parseApps(args, pf.defaults)
	if err != nil {
		return stage0.PrepareOptions{}, err
	}
	opts := stage0.PrepareOptions{
		Volumes:    pf.volumes,
		Mounts:     nil,
		InheritEnv: pf.inheritEnv,
		SetEnv:     pf.setEnv,
		SetEnvFile: pf.setEnvFile,
		Stage1:     pf.stage1,
		Stage1Dirs: a.stage1Dirs(),
		NoOverlay:  pf.noOverlay,
		Ports:      pf.ports,
	}
	// --mount before the first image is a pod-wide mount.
	opts.Mounts = pf.defaults.mounts
	for _, ap := range apps {
		isolators, err := ap.isolators()
		if err != nil {
			return stage0.PrepareOptions{}, err
		}
		pids, err := ap.pidsLimitValue()
		if err != nil {
			return stage0.PrepareOptions{}, err
		}
		o := podspec.AppOptions{
			Isolators:         isolators,
			PidsLimit:         pids,
			Name:              ap.name,
			Args:              ap.args,
			ArgsSet:           ap.argsSet,
			WorkingDir:        ap.workingDir,
			User:              ap.user,
			Group:             ap.group,
			SupplementaryGIDs: ap.supplementaryGIDs,
			ReadOnlyRootFS:    ap.readOnlyRootFS,
			Environment:       ap.environment,
		}
		if ap.exec != "" {
			o.Exec = []string{ap.exec}
		}
		opts.Apps = append(opts.Apps, stage0.AppSpec{Image: ap.image, Options: o, Mounts: ap.mounts[len(pf.defaults.mounts):], Signature: ap.signature})
	}
	return opts, nil
}

// stage1Dirs are where the default stage1 image is looked for: beside the
// rkt binary, then the configured stage1 images directory.
func (a *app) stage1Dirs() stage0.Stage1Dirs {
	d := stage0.Stage1Dirs{ImagesDir: a.cfg.Paths.Stage1Images}
	if d.ImagesDir == "" {
		d.ImagesDir = filepath.Join(defaultSystemConfig, "stage1-images")
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			d.BinaryDir = filepath.Dir(exe)
		}
	}
	return d
}

// requireRoot refuses commands that need root, as rkt 1.x did.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return errdefs.WithKind(errdefs.KindPermission, errors.New("cannot run as unprivileged user"))
	}
	return nil
}

// prepare runs the shared part of run and prepare; run is set for rkt
// run (PrepareOptions.Run; a --pod-manifest pod makes its cgroups at the
// exec instead).
func (a *app) prepare(cmd *cobra.Command, pf *podFlags, args []string, run *stage0.RunCgroups) (*stage0.Prepared, error) {
	if err := requireRoot(); err != nil {
		return nil, err
	}
	var p *stage0.Prepared
	var err error
	if pf.podManifest != "" {
		p, err = a.prepareManifest(cmd, pf, args)
	} else {
		p, err = a.prepareImages(cmd, pf, args, run)
	}
	if err != nil {
		return nil, err
	}
	if pf.uuidFile != "" {
		if err := writeUUIDFile(pf.uuidFile, p.Pod.UUID); err != nil {
			p.Abort()
			return nil, err
		}
	}
	return p, nil
}

// prepareImages prepares a pod from image arguments.
func (a *app) prepareImages(cmd *cobra.Command, pf *podFlags, args []string, run *stage0.RunCgroups) (*stage0.Prepared, error) {
	if len(args) == 0 {
		return nil, errdefs.InvalidArgument(errors.New("give at least one image, or --pod-manifest"))
	}
	if frontBuild && pf.noOverlay {
		// A copy of the image is rendered from its compressed layers.
		return nil, fmt.Errorf("--no-overlay: %w", stage0.ErrNotStored)
	}
	opts, err := a.prepareOptions(cmd, pf, args)
	if err != nil {
		return nil, err
	}
	opts.Run = run
	policy, err := pf.pull.policy(cmd)
	if err != nil {
		return nil, err
	}
	s, err := a.openStore(store.Shared)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	warn := func() {
		if a.insecure.has("image") {
			fmt.Fprintln(a.stderr, "image: warning: image signature verification has been disabled")
		}
	}
	if !frontBuild {
		warn()
	}
	p, err := stage0.Prepare(cmd.Context(), a.images(s, policy), a.dir, opts)
	if frontBuild && err == nil {
		// Printed once the front knows it keeps the command: what it
		// hands to rkt-full, rkt-full warns about.
		warn()
	}
	return p, err
}

// prepareManifest prepares a pod from --pod-manifest.
func (a *app) prepareManifest(cmd *cobra.Command, pf *podFlags, args []string) (*stage0.Prepared, error) {
	var conflicts []string
	for _, name := range podManifestConflicts {
		if cmd.Flags().Changed(name) {
			conflicts = append(conflicts, "--"+name)
		}
	}
	if len(args) > 0 {
		conflicts = append(conflicts, "image arguments")
	}
	if len(conflicts) > 0 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("conflicting flags set with --pod-manifest: %s", strings.Join(conflicts, ", ")))
	}
	pm, err := stage0.ReadPodManifest(pf.podManifest)
	if err != nil {
		return nil, err
	}
	s, err := a.openStore(store.Shared)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return stage0.PrepareManifest(cmd.Context(), a.images(s, store.PullNever), a.dir, pm, pf.stage1, a.stage1Dirs())
}

func writeUUIDFile(file, uuid string) error {
	// Through a rename: whoever waits for the file to appear (a script, a
	// unit's ExecStartPost) reads the whole UUID, never an empty file.
	err := writeOutputFile(file, true, func(f *os.File) error {
		_, err := f.WriteString(uuid)
		return err
	})
	if err != nil {
		return fmt.Errorf("--uuid-file-save: %w", err)
	}
	return nil
}

// runFlags are the flags of run and run-prepared that go to stage1.
type runFlags struct {
	net          netFlag
	hostname     string
	interactive  bool
	ipc          string
	privateUsers bool
	dns          stage0.DNSOptions
	mdsRegister  bool
	mdsSocket    string
}

func (rf *runFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Var(&rf.net, "net", "networking: default, default-restricted, NAME[:K=V;K=V] of a network in net.d, all, host (the host's network) or none (loopback only); comma-separated or repeated")
	fs.Lookup("net").NoOptDefVal = abi.NetDefault
	fs.StringVar(&rf.hostname, "hostname", "", "the pod's hostname (default rkt-<uuid>)")
	fs.BoolVar(&rf.interactive, "interactive", false, "run the (single) app interactively, on this terminal")
	fs.StringVar(&rf.ipc, "ipc", "auto", "IPC namespace: auto, private or parent")
	fs.BoolVar(&rf.privateUsers, "private-users", false, "run the apps in a user namespace: root in the pod is an unprivileged range of host IDs")
	stringsVar(fs, &rf.dns.Servers, "dns", "a name server for the pod's /etc/resolv.conf (repeatable), or host (the host's file) or none (the image's)")
	stringsVar(fs, &rf.dns.Search, "dns-search", "a DNS search domain for the pod's /etc/resolv.conf (repeatable)")
	stringsVar(fs, &rf.dns.Options, "dns-opt", "a resolver option for the pod's /etc/resolv.conf (repeatable)")
	fs.StringVar(&rf.dns.Domain, "dns-domain", "", "the local domain for the pod's /etc/resolv.conf")
	stringsVar(fs, &rf.dns.HostsEntries, "hosts-entry", "an /etc/hosts entry IP=HOST[,HOST...] added to the defaults (repeatable), or host (the host's file)")
	fs.BoolVar(&rf.mdsRegister, "mds-register", false, "register the pod with the metadata service (rkt metadata-service), which its apps reach at $AC_METADATA_URL; not with --net=none")
	fs.StringVar(&rf.mdsSocket, "mds-socket", mdsclient.DefaultSocket, "the metadata service's registration socket (for tests)")
	_ = fs.MarkHidden("mds-socket")
}

// checkMDS fails early, before a pod is made, when --mds-register cannot
// work: a socket that is not an absolute path, or no service on it.
func (rf *runFlags) checkMDS(ctx context.Context) error {
	if !rf.mdsRegister {
		if rf.mdsSocket != mdsclient.DefaultSocket {
			return errdefs.InvalidArgument(errors.New("--mds-socket needs --mds-register"))
		}
		return nil
	}
	if !filepath.IsAbs(rf.mdsSocket) {
		return errdefs.InvalidArgument(fmt.Errorf("--mds-socket=%s: not an absolute path", rf.mdsSocket))
	}
	return mdsclient.NewClient(rf.mdsSocket).Check(ctx)
}

// beforeExec writes the pod's DNS files, registers it with the metadata
// service (--mds-register, with the image manifests from the store that
// open opens) and gives stage1 its token; stage0.Exec calls it once the
// pod is locked in run.
func (rf *runFlags) beforeExec(ctx context.Context, open func() (*store.Store, error)) func(podDir string, pm *schema.PodManifest, ra *abi.RunArgs) ([]string, error) {
	return func(podDir string, pm *schema.PodManifest, ra *abi.RunArgs) ([]string, error) {
		if err := rf.writeDNS(podDir, ra); err != nil {
			return nil, err
		}
		if !rf.mdsRegister {
			return nil, nil
		}
		s, err := open()
		if err != nil {
			return nil, err
		}
		defer s.Close()
		token, port, err := stage0.RegisterMDS(ctx, s, podDir, ra.UUID, rf.mdsSocket, pm)
		if err != nil {
			return nil, err
		}
		ra.MDSToken = token
		return stage0.MDSEnv(port), nil
	}
}

// userns gives the pod its own range of host IDs (--private-users) and
// passes it to stage1.
func (rf *runFlags) userns(p *pod.Pod, ra *abi.RunArgs) error {
	if !rf.privateUsers {
		return nil
	}
	r, err := p.AllocateUserns()
	if err != nil {
		return err
	}
	ra.PrivateUsers = r
	return nil
}

// writeDNS writes the pod's generated DNS files and sets the mode stage1
// gets; stage0.Exec calls it once the pod is locked in run.
func (rf *runFlags) writeDNS(podDir string, ra *abi.RunArgs) error {
	d, err := stage0.WriteDNSFiles(podDir, rf.dns)
	if err != nil {
		return err
	}
	ra.DNSConfMode = d.String()
	return nil
}

// stringsVar defines a repeatable flag whose every use adds its value,
// commas and all: pflag's StringArrayVar, without rendering each one's
// default through a CSV writer with a buffer of its own at every start.
func stringsVar(fs *pflag.FlagSet, p *[]string, name, usage string) {
	fs.Var((*stringsFlag)(p), name, usage)
}

type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }
func (s *stringsFlag) Type() string   { return "stringArray" }
func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// netFlag collects --net values: each comma-separated, several flags add
// up; none at all is the default network.
type netFlag []string

func (n *netFlag) String() string { return strings.Join(*n, ",") }
func (n *netFlag) Type() string   { return "string" }
func (n *netFlag) Set(v string) error {
	if _, err := abi.ParseNets([]string{v}); err != nil {
		return err
	}
	*n = append(*n, v)
	return nil
}

// runArgs checks the run flags and builds stage1's arguments.
func (a *app) runArgs(rf *runFlags, uuid string, apps, ports int) (abi.RunArgs, error) {
	nets, err := abi.ParseNets(rf.net)
	if err != nil {
		return abi.RunArgs{}, errdefs.InvalidArgument(err)
	}
	if mode := abi.NetsMode(nets); mode != "" && ports > 0 {
		return abi.RunArgs{}, errdefs.InvalidArgument(fmt.Errorf("--port cannot be used with --net=%s: port forwarding needs a CNI network", mode))
	}
	if abi.NetsMode(nets) == abi.NetNone && rf.mdsRegister {
		return abi.RunArgs{}, errdefs.InvalidArgument(errors.New("--mds-register cannot be used with --net=none: the pod could not reach the metadata service"))
	}
	switch rf.ipc {
	case "auto", "private", "parent":
	default:
		return abi.RunArgs{}, errdefs.InvalidArgument(fmt.Errorf("invalid --ipc %q (want auto, private or parent)", rf.ipc))
	}
	if rf.interactive && apps != 1 {
		return abi.RunArgs{}, errdefs.InvalidArgument(fmt.Errorf("--interactive needs exactly one app, got %d", apps))
	}
	if strings.ContainsAny(rf.hostname, " \t\n/") || len(rf.hostname) > 64 {
		return abi.RunArgs{}, errdefs.InvalidArgument(fmt.Errorf("invalid --hostname %q", rf.hostname))
	}
	dns, err := rf.dns.Mode()
	if err != nil {
		return abi.RunArgs{}, err
	}
	for _, o := range []string{"capabilities", "paths", "seccomp"} {
		if a.insecure.has(o) && uuid != "" {
			fmt.Fprintf(a.stderr, "run: warning: --insecure-options=%s: that restriction is disabled for this pod\n", o)
		}
	}
	return abi.RunArgs{
		Debug:               a.debug,
		Net:                 abi.FormatNets(nets),
		Interactive:         rf.interactive,
		LocalConfig:         a.localConfig,
		Hostname:            rf.hostname,
		DisableCapabilities: a.insecure.has("capabilities"),
		DisablePaths:        a.insecure.has("paths"),
		DisableSeccomp:      a.insecure.has("seccomp"),
		DNSConfMode:         dns.String(),
		IPC:                 rf.ipc,
		UUID:                uuid,
	}, nil
}

const appsUsage = `IMAGE [per-app flags] [-- ARGS...] [--- IMAGE [per-app flags] [-- ARGS...]]...

Per-app flags (after an image, or before the first image for every app):
  --exec=PATH  --name=NAME  --user=USER  --group=GROUP  --working-dir=DIR
  --supplementary-gids=GID,...  --readonly-rootfs  --environment=NAME=VALUE
  --mount=volume=NAME,target=PATH  --caps-retain=CAP,...  --caps-remove=CAP,...
  --oom-score-adj=N  --seccomp=mode=retain|remove[,errno=E],SYSCALL|@GROUP,...
  --memory=QUANTITY  --cpu=QUANTITY  --cpu-shares=N  --pids-limit=N
  --signature=FILE (an ACI's signature)`

func (a *app) runCommand() *cobra.Command {
	var (
		pf podFlags
		rf runFlags
	)
	cmd := &cobra.Command{
		Use:   "run [flags] " + appsUsage,
		Short: "Run image(s) in a pod",
		Long: `Run one or more images as the apps of a new pod. rkt fetches missing images
(--pull-policy, default new), prepares the pod, and becomes the pod: it
execs the stage1 in this same process, so its exit code is the pod's (0
when every app exits 0, else the first failing app's) and a signal to it
stops the pod. Networking: by default the pod joins the default CNI network
(172.16.28.0/24, masqueraded); see --net and --port. With --mds-register the
pod is registered with the metadata service ('rkt metadata-service', which
must be running) and its apps find it at $AC_METADATA_URL.`,
		Example: `  rkt --insecure-options=image run --net=host docker://127.0.0.1:5000/busybox -- -c 'echo hello'
  rkt run --net=none img-a --- img-b --exec=/bin/worker
  rkt run --mds-register --volume=database,kind=empty example.com/app`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Check the run flags first: a bad one makes no pod.
			checked, err := a.runArgs(&rf, "", 1, len(pf.ports))
			if err != nil {
				return err
			}
			if err := rf.checkMDS(cmd.Context()); err != nil {
				return err
			}
			p, err := a.prepare(cmd, &pf, args, &stage0.RunCgroups{AllDevices: checked.DisablePaths})
			if err != nil {
				return err
			}
			ra, err := a.runArgs(&rf, p.Pod.UUID, len(p.Manifest.Apps), len(p.Manifest.Ports))
			if err == nil {
				err = rf.userns(p.Pod, &ra)
			}
			if err != nil {
				p.Abort()
				return err
			}
			return p.Exec(ra, rf.beforeExec(cmd.Context(), a.sharedStore), a.warner("run"))
		},
	}
	pf.register(cmd)
	rf.register(cmd)
	return cmd
}

func (a *app) prepareCommand() *cobra.Command {
	var (
		pf    podFlags
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "prepare [flags] " + appsUsage,
		Short: "Prepare a pod to run later with run-prepared",
		Long: `Prepare a pod the way rkt run would, without running it, and print its UUID.
Run it later with 'rkt run-prepared UUID'.`,
		Example: "  uuid=$(rkt --insecure-options=image prepare --quiet docker://127.0.0.1:5000/busybox)\n  rkt run-prepared --net=host $uuid",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.prepare(cmd, &pf, args, nil)
			if err != nil {
				return err
			}
			if err := p.Pod.ToPrepared(); err != nil {
				return err
			}
			if !quiet {
				fmt.Fprintf(a.stderr, "prepare: pod %s is prepared\n", p.Pod.UUID)
			}
			fmt.Fprintln(a.stdout, p.Pod.UUID)
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the pod's UUID")
	return cmd
}

func (a *app) runPreparedCommand() *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:     "run-prepared UUID",
		Short:   "Run a prepared pod",
		Example: "  rkt run-prepared --net=host 5f1e…",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, m, err := a.loadPodAs(args[0], func(s pod.State) bool { return s == pod.StatePrepared }, "prepared")
			if err != nil {
				return err
			}
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			st1, err := stage0.Stage1Of(s, p.Dir)
			s.Close()
			if err != nil {
				return err
			}
			ra, err := a.runArgs(&rf, p.UUID, len(m.Apps), len(m.Ports))
			if err == nil {
				err = rf.checkMDS(cmd.Context())
			}
			if err == nil {
				err = rf.userns(p, &ra)
			}
			if err != nil {
				return err
			}
			return stage0.Exec(p, m, st1, ra, rf.beforeExec(cmd.Context(), a.sharedStore), a.warner("run-prepared"))
		},
	}
	rf.register(cmd)
	return cmd
}

// warner prints warnings prefixed with the subcommand, as rkt does.
func (a *app) warner(cmd string) func(string) {
	return func(w string) { fmt.Fprintf(a.stderr, "%s: warning: %s\n", cmd, w) }
}
