package podinit

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
)

// execute mounts the app's rootfs (an overlay, or with NoOverlay a bind of
// the copy on itself, so that it is a mount point), copies the image's
// content into the fresh implicit volumes (removed from fresh: the first
// app to mount one fills it) and runs its mount steps. Every target is
// resolved inside the rootfs by file descriptor.
func (p AppPlan) execute(fresh map[string]bool) error {
	if p.NoOverlay {
		fd, err := mount.OpenDir(p.Rootfs)
		if err != nil {
			return err
		}
		err = mount.Bind(p.Rootfs, fd, false, 0)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("app %q: rootfs: %w", p.Name, err)
		}
	} else if err := mount.Overlay(p.Rootfs, p.OverlayData); err != nil {
		return err
	}
	root, err := mount.OpenDir(p.Rootfs)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	for _, c := range p.CopyUps {
		if !fresh[c.Volume] {
			continue
		}
		delete(fresh, c.Volume)
		if err := mount.CopyTree(root, c.Target, c.Volume); err != nil {
			return fmt.Errorf("app %q: volume %s: %w", p.Name, c.Target, err)
		}
	}
	for _, s := range p.Mounts {
		if err := runStep(root, s); err != nil {
			return fmt.Errorf("app %q: %s %s: %w", p.Name, s.Kind, s.Target, err)
		}
	}
	if p.ReadOnlyRoot {
		if err := mount.SetAttr(root, mount.ReadOnly, false); err != nil {
			return fmt.Errorf("app %q: read-only rootfs: %w", p.Name, err)
		}
	}
	return nil
}

func runStep(root int, s Step) error {
	switch s.Kind {
	case StepFS:
		fd, err := mount.EnsureDir(root, s.Target, 0o755)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return mount.MountFS(s.FSType, s.Options, s.Attrs, fd)
	case StepSymlink:
		return mount.SymlinkInRoot(root, s.Target, s.Link)
	case StepBind:
		var st unix.Stat_t
		if err := unix.Stat(s.Source, &st); err != nil {
			return fmt.Errorf("source %s: %w", s.Source, err)
		}
		if s.IfMissing {
			if fd, err := mount.OpenInRoot(root, s.Target, unix.O_PATH); err == nil {
				unix.Close(fd)
				return nil
			}
		}
		var fd int
		var err error
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			fd, err = mount.EnsureDir(root, s.Target, 0o755)
		} else {
			fd, err = mount.EnsureFile(root, s.Target, 0o644)
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return mount.Bind(s.Source, fd, s.Recursive, s.Attrs)
	case StepMask:
		fd, err := mount.OpenInRoot(root, s.Target, unix.O_PATH|unix.O_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			return nil // nothing to hide
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if mount.IsDir(fd) {
			return mount.MountFS("tmpfs", []mount.Option{{Key: "size", Value: "0"}, {Key: "mode", Value: "0555"}},
				mount.ReadOnly|mount.NoSuid|mount.NoDev|mount.NoExec, fd)
		}
		// Not nodev: the masked file reads as empty, as in docker.
		return mount.Bind("/dev/null", fd, false, mount.ReadOnly|mount.NoSuid|mount.NoExec)
	case StepReadOnly:
		fd, err := mount.OpenInRoot(root, s.Target, unix.O_PATH|unix.O_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return mount.BindFD(fd, fd, true, mount.ReadOnly|mount.NoSuid|mount.NoDev|mount.NoExec)
	default:
		return fmt.Errorf("unknown step kind %q", s.Kind)
	}
}
