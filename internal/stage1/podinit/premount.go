package podinit

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
)

// makeOverlays makes the overlay rootfs of each app of plans that gets
// one (not --no-overlay) as a detached mount (fsmount): app name -> its
// fd (close-on-exec). Mounting an overlay (its work dir is checked and
// prepared on every mount) is the longest step of pod init's setup: pod
// init makes them in a goroutine while the rest of its setup goes on,
// and attaches them later (attachOverlay). An app whose overlay it cannot
// make is left out, with a note: pod init mounts that one itself, and
// reports the error if it has one.
func makeOverlays(plans []AppPlan) premade {
	got := premade{fds: map[string]int{}}
	for _, p := range plans {
		if p.NoOverlay {
			continue
		}
		fd, err := makeOverlay(p.Name, p.LowerDirs)
		if err != nil {
			got.notes = append(got.notes, fmt.Sprintf("app %q: no premade overlay: %v", p.Name, err))
			continue
		}
		got.fds[p.Name] = fd
	}
	return got
}

// premade is what makeOverlays made: app name -> detached overlay, and
// notes for the debug log on those it could not make.
type premade struct {
	fds   map[string]int
	notes []string
}

// makeOverlay makes the overlay that mountOverlay would mount for app
// name, detached. Its layers go one by one ("lowerdir+", Linux 6.8), or
// all at once when they fit fsconfig's 256 bytes; without syncs when the
// kernel has the option (volatile, Linux 5.10), as mountOverlay.
func makeOverlay(name string, layers []string) (int, error) {
	lower, err := lowerLayers(layers)
	if err != nil {
		return -1, err
	}
	upper, work := overlayDirs(name)
	dirs := []mount.Option{{Key: "source", Value: "overlay"}, {Key: "upperdir", Value: upper}, {Key: "workdir", Value: work}}
	perLayer := make([]mount.Option, 0, len(lower)+len(dirs))
	for _, l := range lower {
		perLayer = append(perLayer, mount.Option{Key: "lowerdir+", Value: l})
	}
	variants := [][]mount.Option{append(perLayer, dirs...)}
	if all := strings.Join(lower, ":"); len(all) <= 255 {
		variants = append(variants, append([]mount.Option{{Key: "lowerdir", Value: all}}, dirs...))
	}
	// The kernel refuses what it does not know with EINVAL: the next
	// variant then.
	volatile := mount.Option{Key: "volatile"}
	for _, opts := range variants {
		for _, o := range [][]mount.Option{append(opts[:len(opts):len(opts)], volatile), opts} {
			fd, ferr := mount.NewFS("overlay", o, 0)
			if ferr == nil || !errors.Is(ferr, unix.EINVAL) {
				return fd, ferr
			}
			err = ferr
		}
	}
	return -1, err
}

// attachOverlay attaches a premade overlay at p.Rootfs and closes it.
func attachOverlay(p AppPlan, fd int) error {
	defer unix.Close(fd)
	if err := mount.AttachAt(fd, p.Rootfs); err != nil {
		return fmt.Errorf("app %q: its overlay: %w", p.Name, err)
	}
	return nil
}
