package stage0

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/cgroup"
	"github.com/rkt/rkt/internal/cgroup/layout"
	"github.com/rkt/rkt/internal/pod"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// entrypoint returns the path of a stage1 entrypoint of a pod, binding
// the pod's stage1 tree again from the store if it is not mounted (after
// a reboot). s may be nil when the store cannot be opened.
func entrypoint(s *store.Store, p *pod.Pod, annotation string) (string, error) {
	if s != nil {
		if st1, err := Stage1Of(s, p.Dir); err == nil {
			rel, ok := st1.Entrypoints[annotation]
			if !ok {
				return "", fmt.Errorf("pod %s: %w: %s", p.UUID, errNoEntrypoint, annotation)
			}
			path := filepath.Join(p.Dir, abi.Stage1Rootfs, rel)
			if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
				if err := BindStage1(p.Dir, st1.Rootfs); err != nil {
					return "", err
				}
			}
			return path, nil
		}
	}
	// Without the store, use the entrypoint the mounted tree has, by the
	// names our stage1 images use.
	name := annotation[strings.LastIndex(annotation, "/")+1:]
	path := filepath.Join(p.Dir, abi.Stage1Rootfs, name)
	if _, err := os.Lstat(path); err != nil {
		return "", fmt.Errorf("pod %s: stage1 %s entrypoint: %w", p.UUID, name, err)
	}
	return path, nil
}

// StageGC runs the pod's stage1 gc entrypoint (network and cgroup
// teardown) in the pod directory. Pods that never ran have nothing for it.
// The pod's cgroups (stage0 made them) go after it: no process of the pod
// survives its gc.
//
// A pod registered with the metadata service is unregistered first (as
// rkt 1.x did at gc); when that fails, warn says so and gc goes on.
func StageGC(ctx context.Context, s *store.Store, p *pod.Pod, args abi.GCArgs, warn func(string)) error {
	if err := UnregisterMDS(ctx, p.Dir, p.UUID); err != nil && warn != nil {
		warn(err.Error())
	}
	if p.State != pod.StateExitedDeleting {
		// prepared, aborted or expired: stage1 never ran it
		return errors.Join(RemoveCgroups(p), p.FreeUserns())
	}
	path, err := entrypoint(s, p, abi.AnnotationGC)
	if err != nil {
		return err
	}
	args.UUID = p.UUID
	if err := runEntrypoint(ctx, p, path, args.Argv(), 2*time.Minute); err != nil {
		return err
	}
	return errors.Join(RemoveCgroups(p), p.FreeUserns())
}

// Stop runs the pod's stage1 stop entrypoint; with force, it then kills
// every process left in the apps' cgroups.
func Stop(ctx context.Context, s *store.Store, p *pod.Pod, force bool) error {
	path, err := entrypoint(s, p, abi.AnnotationStop)
	if err != nil {
		return err
	}
	if err := runEntrypoint(ctx, p, path, abi.StopArgs{Force: force, UUID: p.UUID}.Argv(), time.Minute); err != nil {
		return err
	}
	if !force {
		return nil
	}
	l, err := layout.Load(p.Dir)
	if err != nil || l == nil {
		return err
	}
	return cgroup.Kill(l, true, 10*time.Second)
}

func runEntrypoint(ctx context.Context, p *pod.Pod, path string, args []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...) //nolint:gosec // G204: a stage1 entrypoint from the pod's read-only stage1 tree
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pod %s: stage1 %s: %w", p.UUID, filepath.Base(path), err)
	}
	return nil
}

// Enter runs cmd in an app of a running pod through the stage1 enter
// entrypoint, in this process (exec), so its exit code is cmd's.
func Enter(s *store.Store, p *pod.Pod, app string, cmd []string) error {
	pid, err := p.PID()
	if err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	path, err := entrypoint(s, p, abi.AnnotationEnter)
	if err != nil {
		return err
	}
	if err := os.Chdir(p.Dir); err != nil {
		return err
	}
	argv := append([]string{path}, abi.EnterArgs{PID: pid, AppName: app, Cmd: cmd}.Argv()...)
	return execve(path, argv, os.Environ())
}

// ImagesInUse lists the images and rendered layers the pods of dataDir
// use (their apps' and their stage1's), so image gc keeps them for as
// long as the pods exist. Unreadable pods are skipped: gc of pods
// removes what they hold anyway.
func ImagesInUse(dataDir string) (map[digest.Digest]bool, map[digest.Digest]bool) {
	imgs, layers := map[digest.Digest]bool{}, map[digest.Digest]bool{}
	pods, _ := pod.ListIncluding(dataDir, pod.IncludeAll)
	addID := func(file string) {
		raw, err := os.ReadFile(file)
		if err != nil {
			return
		}
		if d, err := digest.Parse(strings.Replace(strings.TrimSpace(string(raw)), "-", ":", 1)); err == nil {
			imgs[d] = true
		}
	}
	for _, p := range pods {
		addID(filepath.Join(p.Dir, abi.Stage1Image))
		apps, _ := os.ReadDir(filepath.Join(p.Dir, abi.AppsInfo))
		for _, app := range apps {
			dir := filepath.Join(p.Dir, abi.AppsInfo, app.Name())
			addID(filepath.Join(dir, abi.AppImageID))
			raw, err := os.ReadFile(filepath.Join(dir, abi.AppLayers))
			if err != nil {
				continue
			}
			for _, l := range strings.Fields(string(raw)) {
				// .../layers/sha256-<diff id>/rootfs
				name := filepath.Base(filepath.Dir(l))
				if d, err := digest.Parse(strings.Replace(name, "-", ":", 1)); err == nil {
					layers[d] = true
				}
			}
		}
	}
	return imgs, layers
}
