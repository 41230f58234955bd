package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/isolation/caps"
	"github.com/rkt/rkt/internal/isolation/seccomp"
)

// appArgs is one app of a run or prepare command line: its image and the
// per-app flags that followed it.
type appArgs struct {
	image             string
	signature         string
	name              string
	exec              string
	args              []string
	argsSet           bool
	workingDir        string
	user              string
	group             string
	supplementaryGIDs []int
	readOnlyRootFS    bool
	environment       []string
	mounts            []string
	capsRetain        string
	capsRemove        string
	oomScoreAdj       string
	seccomp           string
	memory            string
	cpu               string
	cpuShares         string
	pidsLimit         string
}

// appFlagValues holds what per-app flags given on the command line add.
type appFlagValues struct {
	sgids       string
	environment []string
	mounts      []string
}

// perAppFlags registers the per-app flags on fs. Scalar flags write into
// a, keeping a's values as defaults; repeated flags collect into v and
// are added to a's by merge.
func perAppFlags(fs *pflag.FlagSet, a *appArgs) *appFlagValues {
	v := &appFlagValues{}
	fs.StringVar(&v.sgids, "supplementary-gids", "", "supplementary group IDs, comma-separated (replaces the image's)")
	fs.StringVar(&a.name, "name", a.name, "name of the app (default: the image's base name)")
	fs.StringVar(&a.exec, "exec", a.exec, "override the image's entrypoint")
	fs.StringVar(&a.workingDir, "working-dir", a.workingDir, "override the image's working directory")
	fs.StringVar(&a.user, "user", a.user, "user to run the app as: a uid or a name from the image's /etc/passwd")
	fs.StringVar(&a.group, "group", a.group, "group to run the app as: a gid or a name from the image's /etc/group")
	fs.BoolVar(&a.readOnlyRootFS, "readonly-rootfs", a.readOnlyRootFS, "mount the app's root filesystem read-only")
	stringsVar(fs, &v.environment, "environment", "set an environment variable for this app (NAME=VALUE)")
	stringsVar(fs, &v.mounts, "mount", "mount a volume into this app: volume=NAME,target=PATH")
	fs.StringVar(&a.capsRetain, "caps-retain", a.capsRetain, "the app's capability bounding set, comma-separated (replaces the default and the image's)")
	fs.StringVar(&a.capsRemove, "caps-remove", a.capsRemove, "capabilities to take from the default bounding set, comma-separated")
	fs.StringVar(&a.oomScoreAdj, "oom-score-adj", a.oomScoreAdj, "the app's oom_score_adj (-1000 to 1000)")
	fs.StringVar(&a.memory, "memory", a.memory, "the app's memory limit (Kubernetes units: 50M, 16Mi, 1G)")
	fs.StringVar(&a.cpu, "cpu", a.cpu, "the app's CPU limit (Kubernetes units: 500m is half a CPU)")
	fs.StringVar(&a.cpuShares, "cpu-shares", a.cpuShares, "the app's CPU shares (2 to 262144; the CPU weight on cgroup v2)")
	fs.StringVar(&a.pidsLimit, "pids-limit", a.pidsLimit, "the most processes and threads the app may have")
	fs.StringVar(&a.seccomp, "seccomp", a.seccomp, "the app's seccomp filter: mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,...")
	fs.StringVar(&a.signature, "signature", a.signature, "the signature file of the app's ACI image (default: its path with .asc appended)")
	return v
}

// isolators turns the isolator flags of an app into appc isolators.
func (a *appArgs) isolators() ([]types.Isolator, error) {
	var out []types.Isolator
	bad := func(flag string, err error) error {
		return errdefs.InvalidArgument(fmt.Errorf("image %s: --%s: %w", a.image, flag, err))
	}
	if a.capsRetain != "" && a.capsRemove != "" {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image %s: --caps-retain and --caps-remove are mutually exclusive", a.image))
	}
	for _, f := range []struct {
		flag, val string
		retain    bool
	}{{"caps-retain", a.capsRetain, true}, {"caps-remove", a.capsRemove, false}} {
		if f.val == "" {
			continue
		}
		var names []string
		for _, n := range strings.Split(f.val, ",") {
			c, err := caps.Parse(n)
			if err != nil {
				return nil, bad(f.flag, err)
			}
			names = append(names, caps.Name(c))
		}
		var iso *types.Isolator
		var err error
		if f.retain {
			var set *types.LinuxCapabilitiesRetainSet
			if set, err = types.NewLinuxCapabilitiesRetainSet(names...); err == nil {
				iso, err = set.AsIsolator()
			}
		} else {
			var set *types.LinuxCapabilitiesRevokeSet
			if set, err = types.NewLinuxCapabilitiesRevokeSet(names...); err == nil {
				iso, err = set.AsIsolator()
			}
		}
		if err != nil {
			return nil, bad(f.flag, err)
		}
		out = append(out, *iso)
	}
	if a.seccomp != "" {
		iso, err := seccompIsolator(a.seccomp)
		if err != nil {
			return nil, bad("seccomp", err)
		}
		out = append(out, *iso)
	}
	if a.memory != "" {
		v, err := types.NewResourceMemoryIsolator(a.memory, a.memory)
		if err == nil {
			err = appendDecoded(&out, v.AsIsolator())
		}
		if err != nil {
			return nil, bad("memory", err)
		}
	}
	if a.cpu != "" {
		v, err := types.NewResourceCPUIsolator(a.cpu, a.cpu)
		if err == nil {
			err = appendDecoded(&out, v.AsIsolator())
		}
		if err != nil {
			return nil, bad("cpu", err)
		}
	}
	if a.cpuShares != "" {
		n, err := strconv.Atoi(a.cpuShares)
		if err != nil {
			return nil, bad("cpu-shares", fmt.Errorf("%q is not a number", a.cpuShares))
		}
		v, err := types.NewLinuxCPUShares(n)
		if err != nil {
			return nil, bad("cpu-shares", err)
		}
		out = append(out, v.AsIsolator())
	}
	if a.oomScoreAdj != "" {
		n, err := strconv.Atoi(a.oomScoreAdj)
		if err != nil {
			return nil, bad("oom-score-adj", fmt.Errorf("%q is not a number", a.oomScoreAdj))
		}
		v, err := types.NewLinuxOOMScoreAdj(n)
		if err != nil {
			return nil, bad("oom-score-adj", err)
		}
		out = append(out, v.AsIsolator())
	}
	return out, nil
}

// appendDecoded appends iso as a manifest read from JSON has it: appc's
// AsIsolator of a resource isolator (memory, cpu) carries the JSON value
// but leaves Value() an empty limit until the isolator is decoded, so a
// reader of the in-memory manifest (stage0's cgroup limits) would see no
// limit.
func appendDecoded(out *[]types.Isolator, iso types.Isolator) error {
	b, err := json.Marshal(iso)
	if err != nil {
		return err
	}
	var dec types.Isolator
	if err := json.Unmarshal(b, &dec); err != nil {
		return err
	}
	*out = append(*out, dec)
	return nil
}

// merge adds the collected per-app values to a.
func (v *appFlagValues) merge(fs *pflag.FlagSet, a *appArgs) error {
	a.environment = append(append([]string(nil), a.environment...), v.environment...)
	a.mounts = append(append([]string(nil), a.mounts...), v.mounts...)
	return setSGIDs(a, v.sgids, fs.Changed("supplementary-gids"))
}

// parseApps splits the positional part of `rkt run` / `rkt prepare`:
//
//	IMAGE [per-app flags] [-- ARGS...] [--- IMAGE ...]
//
// Per-app flags before the first image apply to every app (defaults).
func parseApps(args []string, defaults appArgs) ([]appArgs, error) {
	var apps []appArgs
	for len(args) > 0 {
		a := defaults
		if args[0] == "---" {
			args = args[1:]
			continue
		}
		if strings.HasPrefix(args[0], "-") {
			return nil, errdefs.InvalidArgument(fmt.Errorf("expected an image, got flag %q", args[0]))
		}
		a.image, args = args[0], args[1:]
		// The app's own flags run until "--", "---" or the next image.
		end := len(args)
		for i, s := range args {
			if s == "--" || s == "---" || !strings.HasPrefix(s, "-") && (i == 0 || !flagTakesValue(args[i-1])) {
				end = i
				break
			}
		}
		fs := pflag.NewFlagSet(a.image, pflag.ContinueOnError)
		fs.SetOutput(discard{})
		vals := perAppFlags(fs, &a)
		if err := fs.Parse(args[:end]); err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %s: %w", a.image, err))
		}
		if err := vals.merge(fs, &a); err != nil {
			return nil, err
		}
		if fs.Changed("exec") && a.exec == "" {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image %s: --exec must not be empty", a.image))
		}
		args = args[end:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
			a.argsSet = true
			a.args = nil
			for len(args) > 0 && args[0] != "---" {
				a.args = append(a.args, args[0])
				args = args[1:]
			}
		}
		apps = append(apps, a)
	}
	if len(apps) == 0 {
		return nil, errdefs.InvalidArgument(errors.New("no image given"))
	}
	return apps, nil
}

// flagTakesValue reports whether s is a per-app flag written without
// "=value", whose value is the next argument.
func flagTakesValue(s string) bool {
	if strings.Contains(s, "=") {
		return false
	}
	switch strings.TrimLeft(s, "-") {
	case "name", "exec", "working-dir", "user", "group", "environment", "mount", "supplementary-gids",
		"caps-retain", "caps-remove", "oom-score-adj", "seccomp", "memory", "cpu", "cpu-shares", "pids-limit":
		return true
	}
	return false
}

func setSGIDs(a *appArgs, s string, changed bool) error {
	if !changed {
		return nil
	}
	a.supplementaryGIDs = []int{}
	if s == "" {
		return nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return errdefs.InvalidArgument(fmt.Errorf("image %s: --supplementary-gids: %q is not a group ID", a.image, f))
		}
		a.supplementaryGIDs = append(a.supplementaryGIDs, int(n))
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// pidsLimitValue parses --pids-limit (0 when not given).
func (a *appArgs) pidsLimitValue() (int64, error) {
	if a.pidsLimit == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(a.pidsLimit, 10, 64)
	if err != nil || n <= 0 {
		return 0, errdefs.InvalidArgument(fmt.Errorf("image %s: --pids-limit: %q is not a positive number", a.image, a.pidsLimit))
	}
	return n, nil
}

// seccompIsolator parses --seccomp: mode=retain|remove first, an optional
// errno=NAME, then system calls and groups.
func seccompIsolator(v string) (*types.Isolator, error) {
	parts := strings.Split(v, ",")
	mode, ok := strings.CutPrefix(parts[0], "mode=")
	if !ok {
		return nil, fmt.Errorf("%q does not start with mode=retain or mode=remove", v)
	}
	p := seccomp.Policy{Mode: mode}
	for _, f := range parts[1:] {
		if e, ok := strings.CutPrefix(f, "errno="); ok {
			p.Errno = e
			continue
		}
		if f != "" {
			p.Set = append(p.Set, f)
		}
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	if p.Mode == seccomp.Retain {
		set, err := types.NewLinuxSeccompRetainSet(p.Errno, p.Set...)
		if err != nil {
			return nil, err
		}
		return set.AsIsolator()
	}
	set, err := types.NewLinuxSeccompRemoveSet(p.Errno, p.Set...)
	if err != nil {
		return nil, err
	}
	return set.AsIsolator()
}
