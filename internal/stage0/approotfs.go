package stage0

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// mergedLower is the pod-relative directory of an app's one overlay lower
// layer when stage0 renders it (an ACI with a path whitelist).
func mergedLower(name string) string { return abi.Overlay + "/" + name + "/lower" }

// writeAppRootfs writes app name's entries in the pod directory and what
// its root filesystem needs beyond the store's rendered layers: with
// noOverlay a copy of the whole tree (stage2/<app>/rootfs, and the
// appsinfo/<app>/no-overlay marker that tells stage1 to mount no
// overlay), and for an ACI whose tree has a path whitelist the filtered
// tree, as the one lower layer of its overlay.
func writeAppRootfs(ctx context.Context, images Images, podDir, name string, img *store.Image, r appRootfs, noOverlay bool) error {
	mergeACI := r.aci != nil && (noOverlay || r.whitelisted())
	layers := r.layers
	if mergeACI && !noOverlay {
		layers = []string{mergedLower(name)}
	}
	if err := writeAppDirs(podDir, name, img, layers); err != nil {
		return err
	}
	copyDir := filepath.Join(podDir, abi.Stage2, name, "rootfs") // made by writeAppDirs
	switch {
	case mergeACI && noOverlay:
		if err := renderACITree(ctx, r.aci, copyDir, images.RenderLimits()); err != nil {
			return fmt.Errorf("--no-overlay: %w", err)
		}
	case mergeACI:
		lower := filepath.Join(podDir, mergedLower(name))
		if err := os.Mkdir(lower, 0o755); err != nil { //nolint:gosec // G301: an app's root directory is 0755, like /
			return err
		}
		if err := renderACITree(ctx, r.aci, lower, images.RenderLimits()); err != nil {
			return fmt.Errorf("path whitelist: %w", err)
		}
	case noOverlay:
		if err := images.ImageStore().RenderImage(ctx, img.ID, copyDir, store.RenderOptions{}); err != nil {
			return fmt.Errorf("--no-overlay: %w", err)
		}
	}
	if noOverlay {
		return os.WriteFile(filepath.Join(podDir, abi.AppsInfo, name, abi.AppNoOverlay), nil, 0o640)
	}
	return nil
}

// AppLayers reads the rendered layer trees of app in the pod at podDir,
// bottom first, as absolute paths (a lower stage0 made in the pod is
// written relative to it).
func AppLayers(podDir, app string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(podDir, abi.AppsInfo, app, abi.AppLayers))
	if err != nil {
		return nil, err
	}
	layers := strings.Fields(string(raw))
	for i, l := range layers {
		if !filepath.IsAbs(l) {
			layers[i] = filepath.Join(podDir, l)
		}
	}
	return layers, nil
}

// whitelisted reports whether an image of the ACI tree has a path whitelist.
func (r appRootfs) whitelisted() bool {
	for _, n := range r.aci {
		if len(n.Manifest.PathWhitelist) > 0 {
			return true
		}
	}
	return false
}

// renderACITree writes into dst the root filesystem of an ACI and its
// dependencies as appc renders it: each path from the highest image of the
// tree that has it, and only the paths the path whitelists allow.
func renderACITree(ctx context.Context, tree []aci.Node, dst string, limits rootfs.Limits) error {
	layers := make([]rootfs.MergedLayer, len(tree))
	for i, n := range tree {
		layers[i] = rootfs.MergedLayer{Dir: filepath.Join(n.Dir, "rootfs"), Keep: aciKeep(tree, i)}
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(rootfs.WriteMerged(pw, layers, rootfs.MergeOptions{}))
	}()
	_, err := rootfs.Apply(ctx, dst, pr, -1, rootfs.Options{Whiteouts: rootfs.WhiteoutApply, Limits: limits, Chown: os.Geteuid() == 0})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("render the ACI and its dependencies: %w", err)
	}
	return nil
}

// whitelist is a parsed pathWhitelist: the paths listed, and the
// directories above them.
type whitelist struct {
	paths, parents map[string]bool
}

func newWhitelist(list []string) *whitelist {
	if len(list) == 0 {
		return nil
	}
	w := &whitelist{paths: map[string]bool{}, parents: map[string]bool{}}
	for _, p := range list {
		p = strings.TrimPrefix(path.Clean("/"+p), "/")
		if p == "" {
			continue
		}
		w.paths[p] = true
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			w.parents[d] = true
		}
	}
	return w
}

// aciKeep filters the files of tree[i] as appc's renderer does: an image's
// own whitelist keeps only the non-directories it lists, and the whitelist
// of each image that depends on it, directly or not, keeps only what it
// lists (and the directories above those paths).
func aciKeep(tree []aci.Node, i int) func(string, bool) bool {
	own := newWhitelist(tree[i].Manifest.PathWhitelist)
	var above []*whitelist
	for p := tree[i].Parent; p >= 0; p = tree[p].Parent {
		if w := newWhitelist(tree[p].Manifest.PathWhitelist); w != nil {
			above = append(above, w)
		}
	}
	if own == nil && above == nil {
		return nil
	}
	return func(p string, dir bool) bool {
		if own != nil && !dir && !own.paths[p] {
			return false
		}
		for _, w := range above {
			if !w.paths[p] && !(dir && w.parents[p]) {
				return false
			}
		}
		return true
	}
}
