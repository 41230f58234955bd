package podspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// AppOptions are the per-app flags of rkt run and prepare.
type AppOptions struct {
	// Name names the app (--name); empty means the image's base name.
	Name string
	// Exec replaces the image's entrypoint (--exec) and drops its Cmd.
	Exec []string
	// Args replace the image's Cmd (after "--") when ArgsSet.
	Args    []string
	ArgsSet bool
	// WorkingDir, User and Group override the image's (empty: keep).
	WorkingDir string
	User       string
	Group      string
	// SupplementaryGIDs replace the groups found in /etc/group when set.
	SupplementaryGIDs []int
	ReadOnlyRootFS    bool
	// Environment (KEY=VALUE) is added over the image's environment.
	Environment []string
	// BaseEnvironment (KEY=VALUE) is under the image's: only names the
	// image does not set are taken (rkt run --inherit-env).
	BaseEnvironment []string
	// Isolators from the command line (--caps-retain, --caps-remove,
	// --seccomp, --oom-score-adj) replace the image's of the same kind.
	Isolators []types.Isolator
	// PidsLimit (--pids-limit), when positive, becomes the app's
	// AnnotationPidsLimit: appc has no isolator for it, and its schema
	// refuses isolators it does not know.
	PidsLimit int64
}

// AnnotationPidsLimit is the app annotation of its pids limit.
const AnnotationPidsLimit = "rkt.dev/pids-limit"

// capsIsolators are the two capability isolators: either one on the
// command line replaces both in the image (they are mutually exclusive).
var capsIsolators = map[types.ACIdentifier]bool{
	types.LinuxCapabilitiesRetainSetName: true,
	types.LinuxCapabilitiesRevokeSetName: true,
}

// seccompIsolators are the two seccomp isolators, replaced together as
// the capability ones.
var seccompIsolators = map[types.ACIdentifier]bool{
	types.LinuxSeccompRetainSetName: true,
	types.LinuxSeccompRemoveSetName: true,
}

// ApplyIsolators sets the command line's isolators on app, replacing the
// image's of the same kind.
func ApplyIsolators(app *types.App, cli []types.Isolator) {
	if len(cli) == 0 {
		return
	}
	replace := map[types.ACIdentifier]bool{}
	for _, iso := range cli {
		replace[iso.Name] = true
		for _, pair := range []map[types.ACIdentifier]bool{capsIsolators, seccompIsolators} {
			if pair[iso.Name] {
				for n := range pair {
					replace[n] = true
				}
			}
		}
	}
	var out types.Isolators
	for _, iso := range app.Isolators {
		if !replace[iso.Name] {
			out = append(out, iso)
		}
	}
	app.Isolators = append(out, cli...)
}

// DefaultAppName is the app name rkt gives an image: the last component
// of its repository, sanitized ("127.0.0.1:5000/lib/busybox" -> "busybox").
func DefaultAppName(repository string) string {
	base := path.Base(repository)
	n, err := types.SanitizeACName(strings.ToLower(base))
	if err != nil || n == "" {
		return "app"
	}
	return n
}

// RuntimeAppFromOCI builds the pod manifest entry for an app of an OCI
// image: exec from Entrypoint and Cmd (docker's override rules), user and
// group resolved through the image's own accounts (acc may be empty),
// environment, working directory, and the image's volumes as mount points.
// image is the stored image's name and appc ID (sha512-…).
func RuntimeAppFromOCI(ref ImageRef, appcID string, cfg RunConfig, acc *Accounts, opts AppOptions) (*schema.RuntimeApp, error) {
	app, err := appFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	entry, cmd := cfg.Entrypoint, cfg.Cmd
	if opts.Exec != nil {
		entry, cmd = opts.Exec, nil
	}
	if opts.ArgsSet {
		cmd = opts.Args
	}
	app.Exec = append(append([]string{}, entry...), cmd...)
	ra, err := finishApp(app, cfg.User, appcID, DefaultAppName(ref.Repository), acc, opts)
	if err != nil {
		return nil, err
	}
	if repo, err := types.SanitizeACIdentifier(strings.ToLower(ref.Repository)); err == nil {
		if n, err := types.NewACIdentifier(repo); err == nil {
			ra.Image.Name = n
		}
	}
	if ref.Tag != "" {
		ra.Image.Labels = types.Labels{{Name: "version", Value: ref.Tag}}
	}
	return ra, nil
}

// RuntimeAppFromACI builds the pod manifest entry for an app of an ACI:
// the image manifest's app (exec, user and group by name or number,
// resolved through the image's own accounts, environment, working
// directory, isolators, mount points, ports, event handlers) under the
// flags: --exec replaces the command and its arguments, "-- ARGS" the
// arguments (the event handlers keep theirs).
func RuntimeAppFromACI(im *schema.ImageManifest, appcID string, acc *Accounts, opts AppOptions) (*schema.RuntimeApp, error) {
	app := &types.App{}
	if im.App != nil {
		cp := *im.App
		cp.Exec = slices.Clone(im.App.Exec)
		cp.Environment = slices.Clone(im.App.Environment)
		cp.Isolators = slices.Clone(im.App.Isolators)
		cp.SupplementaryGIDs = slices.Clone(im.App.SupplementaryGIDs)
		cp.EventHandlers = slices.Clone(im.App.EventHandlers)
		app = &cp
	}
	if opts.Exec != nil {
		app.Exec = slices.Clone(opts.Exec)
	}
	if opts.ArgsSet && len(app.Exec) > 0 {
		app.Exec = append(app.Exec[:1:1], opts.Args...)
	}
	imageUser := ""
	if app.User != "" || app.Group != "" {
		imageUser = app.User + ":" + app.Group
	}
	ra, err := finishApp(app, imageUser, appcID, DefaultAppName(im.Name.String()), acc, opts)
	if err != nil {
		return nil, err
	}
	ra.Image.Name = &im.Name
	ra.Image.Labels = slices.Clone(im.Labels)
	return ra, nil
}

// finishApp applies the flags every image kind shares (working
// directory, user and group, environment, isolators, name, read-only
// rootfs, pids limit) to an app whose exec is set, and makes its pod
// manifest entry.
func finishApp(app *types.App, imageUser, appcID, defaultName string, acc *Accounts, opts AppOptions) (*schema.RuntimeApp, error) {
	if len(app.Exec) == 0 || app.Exec[0] == "" {
		return nil, errors.New("the image has no command to run: give one with --exec")
	}
	if opts.WorkingDir != "" {
		if !path.IsAbs(opts.WorkingDir) {
			return nil, fmt.Errorf("working directory %q is not absolute", opts.WorkingDir)
		}
		app.WorkingDirectory = path.Clean(opts.WorkingDir)
	}
	if err := resolveAccounts(app, imageUser, acc, opts); err != nil {
		return nil, err
	}
	for _, kv := range opts.BaseEnvironment {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validEnvName(k) {
			continue
		}
		if _, set := app.Environment.Get(k); !set {
			app.Environment.Set(k, v)
		}
	}
	for _, kv := range opts.Environment {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validEnvName(k) {
			return nil, fmt.Errorf("environment %q is not NAME=VALUE", kv)
		}
		app.Environment.Set(k, v)
	}
	ApplyIsolators(app, opts.Isolators)
	name := opts.Name
	if name == "" {
		name = defaultName
	}
	acn, err := types.NewACName(name)
	if err != nil {
		return nil, fmt.Errorf("app name %q: %w", name, err)
	}
	id, err := types.NewHash(appcID)
	if err != nil {
		return nil, fmt.Errorf("image ID %q: %w", appcID, err)
	}
	ra := &schema.RuntimeApp{Name: *acn, App: app, ReadOnlyRootFS: opts.ReadOnlyRootFS}
	ra.Image.ID = *id
	if opts.PidsLimit > 0 {
		ra.Annotations.Set(AnnotationPidsLimit, strconv.FormatInt(opts.PidsLimit, 10))
	}
	return ra, nil
}

// resolveAccounts sets the app's numeric user and group, supplementary
// groups and HOME the way docker does for OCI images: the user from the
// flag or the image (name or uid), the group from the flag, the image's
// "user:group", or the user's primary group.
func resolveAccounts(app *types.App, imageUser string, acc *Accounts, opts AppOptions) error {
	if acc == nil {
		acc = &Accounts{}
	}
	user, group := "0", ""
	if imageUser != "" {
		u, g, _ := strings.Cut(imageUser, ":")
		if u != "" {
			user = u
		}
		group = g
	}
	if opts.User != "" {
		user = opts.User
	}
	if opts.Group != "" {
		group = opts.Group
	}
	uid, primary, home, known, err := acc.ResolveUser(user)
	if err != nil {
		return err
	}
	gid := primary
	if group != "" {
		if gid, err = acc.ResolveGroup(group); err != nil {
			return err
		}
	}
	app.User, app.Group = strconv.FormatUint(uint64(uid), 10), strconv.FormatUint(uint64(gid), 10)
	if opts.SupplementaryGIDs != nil {
		app.SupplementaryGIDs = opts.SupplementaryGIDs
	} else if known {
		name := user
		for _, u := range acc.Users {
			if u.UID == uid {
				name = u.Name
				break
			}
		}
		app.SupplementaryGIDs = acc.SupplementaryGIDs(name)
	}
	if _, ok := app.Environment.Get("HOME"); !ok && home != "" {
		app.Environment.Set("HOME", home)
	}
	return nil
}

// RunConfig is what an app is made of in an OCI image configuration (its
// "config" section): the fields RuntimeAppFromOCI and ImageManifestFromOCI
// read, and only those, so that the start path's parser (ParseRunConfig)
// cannot leave a field they read zero. Field names match as encoding/json
// matches them (case-folded), as v1.ParseConfigFile would.
type RunConfig struct {
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	Env          []string            `json:"Env"`
	User         string              `json:"User"`
	WorkingDir   string              `json:"WorkingDir"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Volumes      map[string]struct{} `json:"Volumes"`
}

// RunConfigOf takes the RunConfig of a fully decoded configuration.
func RunConfigOf(c v1.Config) RunConfig {
	return RunConfig{
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, User: c.User, WorkingDir: c.WorkingDir,
		ExposedPorts: c.ExposedPorts, Volumes: c.Volumes,
	}
}

// ParseRunConfig decodes the RunConfig of an OCI image configuration, and
// nothing else (history, rootfs, labels, health check, ...). It is the
// start path's parser: encoding/json's reflection over the whole
// v1.ConfigFile, cold in every rkt process, cost about 0.15 ms a start.
func ParseRunConfig(r io.Reader) (RunConfig, error) {
	var rc struct {
		Config RunConfig `json:"config"`
	}
	if err := json.NewDecoder(r).Decode(&rc); err != nil {
		return RunConfig{}, err
	}
	return rc.Config, nil
}
