package stage0

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/startup"
	"github.com/rkt/rkt/internal/store"
)

// AppSpec is one app of a pod to prepare.
type AppSpec struct {
	// Image is the image input (docker://…, oci:…, a stored name or ID).
	Image   string
	Options podspec.AppOptions
	// Mounts are the app's own --mount values (volume=NAME,target=PATH).
	Mounts []string
	// Signature is the image's signature file (--signature), for an ACI.
	Signature string
}

// PrepareOptions describe a pod to prepare.
type PrepareOptions struct {
	Apps []AppSpec
	// Volumes are --volume values; Mounts global --mount values.
	Volumes []string
	Mounts  []string
	// Environment, lowest precedence first: InheritEnv (the caller's),
	// then the image's, then SetEnvFile files, then SetEnv.
	InheritEnv bool
	SetEnv     []string
	SetEnvFile []string
	Stage1     Stage1Selection
	Stage1Dirs Stage1Dirs
	// NoOverlay renders each app's rootfs as a copy instead of an
	// overlay of the stored layers (--no-overlay).
	NoOverlay bool
	// Ports are --port values: forwards of app ports by name.
	Ports []string
	// Run is set when the pod runs at once (rkt run): its cgroups are
	// made while its files are written, for Prepared.Exec to join.
	Run *RunCgroups
}

// RunCgroups is what the cgroups of a pod made by Prepare for rkt run
// need to know from the run flags.
type RunCgroups struct {
	// AllDevices (--insecure-options=paths) leaves the device
	// controller open.
	AllDevices bool
}

// Prepared is a pod whose directory is written, still locked in the
// prepare state.
type Prepared struct {
	Pod      *pod.Pod
	Stage1   *Stage1
	Manifest *schema.PodManifest
	Images   []*store.Image
	// cgroups are being made (PrepareOptions.Run).
	cgroups *cgroupsStart
}

// Abort gives up on a pod Prepare made: its cgroups (with Run) are
// removed, and the pod is unlocked for gc.
func (r *Prepared) Abort() {
	if r.cgroups != nil {
		_ = r.cgroups.remove()
		r.cgroups = nil
	}
	_ = r.Pod.Close()
}

// Prepare creates a pod: it loads the stage1 image, fetches the images
// (through images, with its pull policy), makes the pod directory, maps
// each image to an app and writes the pod's files. With a fetcher the pod
// directory is made once the images are there; with images the store
// alone gives (Offline), while they are looked up. The pod is returned
// locked in the prepare state; a failure removes it. The caller moves it
// on (prepared, or run).
func Prepare(ctx context.Context, images Images, dataDir string, opts PrepareOptions) (_ *Prepared, err error) {
	if len(opts.Apps) == 0 {
		return nil, errdefs.InvalidArgument(errors.New("no image given"))
	}
	volumes, err := parseVolumes(opts.Volumes)
	if err != nil {
		return nil, err
	}
	globalMounts, err := parseMounts(opts.Mounts)
	if err != nil {
		return nil, err
	}
	env, err := podEnvironment(opts)
	if err != nil {
		return nil, err
	}
	// The pod directory is made while the images are looked up, when
	// that is all it takes (Offline); after they are fetched otherwise.
	made := startPod(dataDir, images.Offline())
	defer made.abandon(&err)
	st1, err := LoadStage1(ctx, images, opts.Stage1, opts.Stage1Dirs)
	if err != nil {
		return nil, err
	}
	ports, err := ParsePorts(opts.Ports)
	if err != nil {
		return nil, err
	}
	// A fetch that fails, or that the front rkt leaves to rkt-full,
	// leaves nothing behind: an early pod is removed (abandon).
	type fetchedImage struct {
		img  *store.Image
		tree []aci.Node
	}
	fetched := make([]fetchedImage, len(opts.Apps))
	for i, spec := range opts.Apps {
		img, tree, err := images.FetchImage(ctx, spec.Image, spec.Signature)
		if err != nil {
			return nil, err
		}
		fetched[i] = fetchedImage{img, tree}
	}
	pm := schema.BlankPodManifest()
	pm.Volumes = volumes
	pm.Ports = ports
	res := &Prepared{Stage1: st1, Manifest: pm}
	var rootfses []appRootfsToWrite
	names := map[string]bool{}
	for i, spec := range opts.Apps {
		img := fetched[i].img
		spec.Options.BaseEnvironment = env.inherited
		spec.Options.Environment = append(append([]string{}, env.set...), spec.Options.Environment...)
		ra, root, err := appFor(images.ImageStore(), img, fetched[i].tree, spec.Options)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Image, err)
		}
		name := ra.Name.String()
		if names[name] {
			return nil, errdefs.InvalidArgument(fmt.Errorf("app name %q is used twice in the pod: give one with --name", name))
		}
		names[name] = true
		mounts, err := parseMounts(spec.Mounts)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Image, err)
		}
		ra.Mounts, err = appMounts(ra, volumes, globalMounts, mounts)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", name, err)
		}
		pm.Apps = append(pm.Apps, *ra)
		res.Images = append(res.Images, img)
		rootfses = append(rootfses, appRootfsToWrite{name, img, root})
	}
	if err := checkPorts(pm); err != nil {
		return nil, err
	}
	// The pod directory (made meanwhile when early) is needed from here
	// on: the apps were mapped without it.
	p, err := made.take()
	if err != nil {
		return nil, err
	}
	defer discardOnError(p, &err)
	res.Pod = p
	defer func() {
		// Before discardOnError removes the pod: its cgroups go first.
		if err != nil && res.cgroups != nil {
			_ = res.cgroups.remove()
		}
	}()
	// pm is complete: from here on it is only read.
	if opts.Run != nil {
		res.cgroups = startCgroups(p, pm, opts.Run.AllDevices)
	}
	if err := writeAppRootfses(ctx, images, p.Dir, rootfses, opts.NoOverlay); err != nil {
		return nil, err
	}
	if err := writePodFiles(p.Dir, pm, st1); err != nil {
		return nil, err
	}
	return res, nil
}

// appRootfsToWrite is an app mapped before its pod directory is made, and
// what writeAppRootfses then writes for it.
type appRootfsToWrite struct {
	name string
	img  *store.Image
	root appRootfs
}

// writeAppRootfses writes each app's rootfs entries in the pod directory.
func writeAppRootfses(ctx context.Context, images Images, podDir string, apps []appRootfsToWrite, noOverlay bool) error {
	for _, a := range apps {
		if err := writeAppRootfs(ctx, images, podDir, a.name, a.img, a.root, noOverlay); err != nil {
			return fmt.Errorf("app %s: %w", a.name, err)
		}
	}
	return nil
}

type podEnv struct {
	inherited []string
	set       []string
}

// podEnvironment gathers --inherit-env, --set-env-file and --set-env.
func podEnvironment(opts PrepareOptions) (podEnv, error) {
	var e podEnv
	if opts.InheritEnv {
		e.inherited = os.Environ()
	}
	for _, file := range opts.SetEnvFile {
		vars, err := readEnvFile(file)
		if err != nil {
			return podEnv{}, err
		}
		e.set = append(e.set, vars...)
	}
	e.set = append(e.set, opts.SetEnv...)
	for _, kv := range e.set {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return podEnv{}, errdefs.InvalidArgument(fmt.Errorf("environment %q is not NAME=VALUE", kv))
		}
	}
	return e, nil
}

// readEnvFile reads --set-env-file: KEY=VALUE lines; blank lines and
// lines starting with # or ; are ignored, as in rkt 1.x.
func readEnvFile(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("--set-env-file: %w", err))
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); !ok || k == "" {
			return nil, errdefs.InvalidArgument(fmt.Errorf("--set-env-file %s line %d: %q is not NAME=VALUE", file, n, line))
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// appRootfs is what an app's root filesystem is made of.
type appRootfs struct {
	// layers are the image's rendered trees, bottom first.
	layers []string
	// aci is an ACI's dependency tree, the image first; nil for others.
	aci []aci.Node
}

// appFor maps a stored image to a pod app and finds its rendered layers;
// an ACI's come from tree, its dependency tree as Fetch or StoredACITree
// resolved it.
func appFor(s *store.Store, img *store.Image, tree []aci.Node, opts podspec.AppOptions) (*schema.RuntimeApp, appRootfs, error) {
	if img.MediaType == aci.MediaType {
		return appForACI(img, tree, opts)
	}
	var layers []string
	for _, l := range img.Layers {
		dir, err := s.LayerDir(l.DiffID)
		if err != nil {
			return nil, appRootfs{}, err
		}
		layers = append(layers, filepath.Join(dir, "rootfs"))
	}
	if img.Config == "" {
		return nil, appRootfs{}, errdefs.InvalidArgument(fmt.Errorf("image %s has no configuration", store.FormatID(img.ID)))
	}
	cf, err := readRunConfig(s, img)
	if err != nil {
		return nil, appRootfs{}, err
	}
	acc := readAccounts(layers)
	appcID, err := appcImageID(s, img)
	if err != nil {
		return nil, appRootfs{}, err
	}
	repo, tag := podspec.SplitName(img.Name)
	ra, err := podspec.RuntimeAppFromOCI(podspec.ImageRef{Repository: repo, Tag: tag, ManifestDigest: img.ID.String(), ConfigDigest: img.Config.String()}, appcID, cf, acc, opts)
	if err != nil {
		return nil, appRootfs{}, err
	}
	// appc image names cannot hold a registry port or a tag as stored:
	// keep the stored name and ID beside the appc ones.
	ra.Annotations.Set(podspec.AnnotationStoredID, store.FormatID(img.ID))
	ra.Annotations.Set(podspec.AnnotationStoredName, img.Name)
	return ra, appRootfs{layers: layers}, nil
}

// appForACI maps an ACI's app to the pod: it runs in its rootfs/ over
// those of its dependencies (tree, the image first).
func appForACI(img *store.Image, tree []aci.Node, opts podspec.AppOptions) (*schema.RuntimeApp, appRootfs, error) {
	if len(tree) == 0 || tree[0].Image.ID != img.ID {
		return nil, appRootfs{}, fmt.Errorf("ACI %s: its dependency tree is not resolved", store.FormatID(img.ID))
	}
	// The image first, then its dependencies depth first: the upper wins,
	// as appc renders them. Layers go bottom first.
	layers := make([]string, len(tree))
	for i, n := range tree {
		layers[len(tree)-1-i] = filepath.Join(n.Dir, "rootfs")
	}
	ra, err := podspec.RuntimeAppFromACI(tree[0].Manifest, "sha512-"+img.ID.Encoded(), readAccounts(layers), opts)
	if err != nil {
		return nil, appRootfs{}, err
	}
	ra.Annotations.Set(podspec.AnnotationStoredID, store.FormatID(img.ID))
	ra.Annotations.Set(podspec.AnnotationStoredName, img.Name)
	return ra, appRootfs{layers: layers, aci: tree}, nil
}

// readAccounts reads the image's /etc/passwd and /etc/group, to resolve
// user and group names, and finds the owners of its files, for users and
// groups given as paths.
func readAccounts(layers []string) *podspec.Accounts {
	acc := &podspec.Accounts{Owner: func(p string) (uint32, uint32, error) { return rootfs.OwnerInLayers(layers, p) }}
	if data, err := rootfs.ReadFileInLayers(layers, "/etc/passwd", podspec.MaxAccountFile); err == nil {
		acc.Users = podspec.ParsePasswd(data)
	}
	if data, err := rootfs.ReadFileInLayers(layers, "/etc/group", podspec.MaxAccountFile); err == nil {
		acc.Groups = podspec.ParseGroup(data)
	}
	return acc
}

// readRunConfig reads what a pod's app is made of in an image's
// configuration (podspec.ParseRunConfig); readConfig reads all of it.
func readRunConfig(s *store.Store, img *store.Image) (podspec.RunConfig, error) {
	return parseConfig(s, img, podspec.ParseRunConfig)
}

func readConfig(s *store.Store, img *store.Image) (*v1.ConfigFile, error) {
	return parseConfig(s, img, v1.ParseConfigFile)
}

func parseConfig[C any](s *store.Store, img *store.Image, parse func(io.Reader) (C, error)) (C, error) {
	var zero C
	f, err := s.OpenBlob(img.Config)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	cf, err := parse(io.LimitReader(f, 8<<20))
	if err != nil {
		return zero, fmt.Errorf("parse config %s: %w", img.Config, err)
	}
	return cf, nil
}

// appcImageID is the image ID a pod manifest carries: appc IDs are
// sha512, so an OCI image is named by the sha512 of its manifest (its
// stored sha256 ID is in the app's rkt.dev/image-id annotation).
func appcImageID(s *store.Store, img *store.Image) (string, error) {
	f, err := s.OpenBlob(img.ID)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("sha512-%x", h.Sum(nil)), nil
}

func parseVolumes(specs []string) ([]types.Volume, error) {
	var out []types.Volume
	seen := map[string]bool{}
	for _, s := range specs {
		v, err := types.VolumeFromString(s)
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("--volume %q: %w", s, err))
		}
		if seen[v.Name.String()] {
			return nil, errdefs.InvalidArgument(fmt.Errorf("--volume %q: volume name %q is given twice", s, v.Name))
		}
		seen[v.Name.String()] = true
		if v.Kind == "host" {
			if !filepath.IsAbs(v.Source) {
				return nil, errdefs.InvalidArgument(fmt.Errorf("--volume %q: source %q is not absolute", s, v.Source))
			}
			if _, err := os.Stat(v.Source); err != nil {
				return nil, errdefs.InvalidArgument(fmt.Errorf("--volume %q: %w", s, err))
			}
		}
		out = append(out, *v)
	}
	return out, nil
}

// parseMounts parses --mount volume=NAME,target=PATH values.
func parseMounts(specs []string) ([]schema.Mount, error) {
	var out []schema.Mount
	for _, s := range specs {
		var m schema.Mount
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, errdefs.InvalidArgument(fmt.Errorf("--mount %q: %q is not key=value", s, kv))
			}
			switch k {
			case "volume":
				n, err := types.NewACName(v)
				if err != nil {
					return nil, errdefs.InvalidArgument(fmt.Errorf("--mount %q: volume: %w", s, err))
				}
				m.Volume = *n
			case "target":
				if !path.IsAbs(v) {
					return nil, errdefs.InvalidArgument(fmt.Errorf("--mount %q: target %q is not absolute", s, v))
				}
				m.Path = path.Clean(v)
			default:
				return nil, errdefs.InvalidArgument(fmt.Errorf("--mount %q: unknown key %q (want volume and target)", s, k))
			}
		}
		if m.Volume == "" || m.Path == "" {
			return nil, errdefs.InvalidArgument(fmt.Errorf("--mount %q: volume and target are required", s))
		}
		out = append(out, m)
	}
	return out, nil
}

// appMounts decides an app's mounts: the image's mount points matched to
// volumes by name (an unmatched mount point gets an implicit empty volume,
// added to volumes), then global --mount, then the app's own --mount, a
// later one replacing an earlier one at the same path.
func appMounts(ra *schema.RuntimeApp, volumes []types.Volume, global, own []schema.Mount) ([]schema.Mount, error) {
	byName := map[types.ACName]bool{}
	for _, v := range volumes {
		byName[v.Name] = true
	}
	byPath := map[string]int{}
	var out []schema.Mount
	add := func(m schema.Mount) error {
		if !byName[m.Volume] {
			return errdefs.InvalidArgument(fmt.Errorf("mount of volume %q at %s: no such volume (give it with --volume)", m.Volume, m.Path))
		}
		if i, ok := byPath[m.Path]; ok {
			out[i] = m
			return nil
		}
		byPath[m.Path] = len(out)
		out = append(out, m)
		return nil
	}
	for _, mp := range ra.App.MountPoints {
		if !byName[mp.Name] {
			// Implicit empty volumes of image mount points are made by
			// stage1 from the mount point's appVolume.
			// appc wants mode, uid and gid on empty volumes: rkt's defaults.
			mode, id := "0755", 0
			v := types.Volume{Name: mp.Name, Kind: "empty", Mode: &mode, UID: &id, GID: &id}
			m := schema.Mount{Volume: mp.Name, Path: mp.Path, AppVolume: &v}
			byPath[m.Path] = len(out)
			out = append(out, m)
			continue
		}
		if err := add(schema.Mount{Volume: mp.Name, Path: mp.Path}); err != nil {
			return nil, err
		}
	}
	for _, ms := range [][]schema.Mount{global, own} {
		for _, m := range ms {
			if err := add(m); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// writeAppDirs writes an app's entries in the pod directory.
func writeAppDirs(podDir, name string, img *store.Image, layers []string) error {
	info := filepath.Join(podDir, abi.AppsInfo, name)
	if err := os.MkdirAll(info, 0o750); err != nil {
		return err
	}
	// The upper dir's mode becomes the mode of the app's "/", which every
	// user of the app must be able to traverse.
	for _, d := range []string{filepath.Join(podDir, abi.Overlay, name, "upper"), filepath.Join(podDir, abi.Overlay, name, "work"), filepath.Join(podDir, abi.Stage2, name, "rootfs")} {
		if err := os.MkdirAll(d, 0o755); err != nil { //nolint:gosec // G301: an app's root directory is 0755, like /
			return err
		}
	}
	for _, l := range layers {
		if strings.ContainsAny(l, "\n") {
			return fmt.Errorf("layer path %q has a newline", l)
		}
	}
	if err := os.WriteFile(filepath.Join(info, abi.AppLayers), []byte(strings.Join(layers, "\n")+"\n"), 0o640); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(info, abi.AppImageID), []byte(store.FormatID(img.ID)+"\n"), 0o640)
}

// writePodFiles writes the pod manifest and the stage1 entries.
func writePodFiles(podDir string, pm *schema.PodManifest, st1 *Stage1) error {
	b, err := json.Marshal(pm)
	if err != nil {
		return fmt.Errorf("pod manifest: %w", err)
	}
	for _, d := range []string{abi.Stage1Rootfs, abi.Stage1State} {
		if err := os.MkdirAll(filepath.Join(podDir, d), 0o750); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(podDir, abi.Stage1Manifest), st1.Manifest, 0o640); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(podDir, abi.Stage1Image), []byte(store.FormatID(st1.Image.ID)+"\n"), 0o640); err != nil {
		return err
	}
	// The manifest is written last: a pod with one is complete.
	return os.WriteFile(filepath.Join(podDir, abi.PodManifest), b, 0o640)
}

// newPod creates a pod directory and locks it in the prepare state.
func newPod(dataDir string) (*pod.Pod, error) {
	p, err := pod.NewEmbryo(dataDir)
	if err != nil {
		return nil, err
	}
	if err := p.ToPreparing(); err != nil {
		return nil, err
	}
	return p, nil
}

// podDirs are the directories of every pod, made with it: the apps'
// entries and stage1's go in them.
var podDirs = []struct {
	path string
	mode os.FileMode
}{
	{abi.AppsInfo, 0o750},
	{abi.Overlay, 0o755},
	{abi.Stage2, 0o755},
	{"stage1", 0o750},
	{abi.Stage1Rootfs, 0o750},
	{abi.Stage1State, 0o750},
}

// newPodWithDirs is newPod with the podDirs made; a failure removes the
// pod.
func newPodWithDirs(dataDir string) (_ *pod.Pod, err error) {
	p, err := newPod(dataDir)
	if err != nil {
		return nil, err
	}
	defer discardOnError(p, &err)
	for _, d := range podDirs {
		if err := os.Mkdir(filepath.Join(p.Dir, d.path), d.mode); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// podStart is the making of a pod's directory by Prepare, at once in a
// goroutine (early) or when the pod is taken.
type podStart struct {
	dataDir string
	done    chan struct{}
	p       *pod.Pod
	err     error
	taken   bool
}

// startPod starts making the pod directory when early, else leaves it to
// take.
func startPod(dataDir string, early bool) *podStart {
	ps := &podStart{dataDir: dataDir}
	if early {
		ps.done = make(chan struct{})
		go func() {
			startup.Grow()
			defer close(ps.done)
			ps.p, ps.err = newPodWithDirs(dataDir)
		}()
	}
	return ps
}

// take returns the pod, made now when it was not made early. From then
// on the caller removes it on error.
func (ps *podStart) take() (*pod.Pod, error) {
	ps.taken = true
	if ps.done == nil {
		return newPodWithDirs(ps.dataDir)
	}
	<-ps.done
	return ps.p, ps.err
}

// abandon removes a pod made early that was never taken, when *err is
// set (Prepare gave up before it needed the pod).
func (ps *podStart) abandon(err *error) {
	if *err == nil || ps.taken || ps.done == nil {
		return
	}
	<-ps.done
	if ps.p != nil {
		discardOnError(ps.p, err)
	}
}

// discardOnError removes a pod being prepared when *err is set, so
// nothing half-made stays behind (the unlocked directory would otherwise
// be an aborted prepare for gc). It removes it under its lock, and lets
// the lock go last: unlocked earlier, the pod is an aborted prepare that
// a concurrent gc collects while this removes it too.
func discardOnError(p *pod.Pod, err *error) {
	if *err == nil {
		return
	}
	rerr := rootfs.RemoveAll(p.Dir)
	_ = p.Close()
	if rerr != nil {
		*err = fmt.Errorf("%w (and removing pod %s: %w)", *err, p.UUID, rerr)
	}
}
