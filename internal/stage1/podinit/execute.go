package podinit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall" //nolint:depguard // syscall.Stat_t is what fs.FileInfo.Sys returns

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
)

// execute mounts the app's rootfs (an overlay, or with NoOverlay a bind of
// the copy on itself, so that it is a mount point), copies the image's
// content into the fresh implicit volumes (removed from fresh: the first
// app to mount one fills it) and runs its mount steps. Every target is
// resolved inside the rootfs by file descriptor.
//
// With a user namespace (us not nil), the rootfs is seen through it: the
// layers (or the --no-overlay copy) are idmapped, the upper dir belongs to
// the namespace's root, and the volume binds are idmapped.
//
// premade, unless -1, is the overlay made ahead for the app
// (makeOverlays): it is attached rather than mounted, and closed.
func (p AppPlan) execute(fresh map[string]bool, us *userns, premade int, debugf func(string, ...any)) error {
	if premade >= 0 && (p.NoOverlay || us != nil) {
		unix.Close(premade)
		premade = -1
	}
	if p.NoOverlay {
		fd, err := mount.OpenDir(p.Rootfs)
		if err != nil {
			return err
		}
		if us != nil {
			// The copy is the pod's own: shifted into the namespace's
			// range by chown (rkt 1.x's way), since pod init creates the
			// mount targets in it as host root, which an idmapped mount
			// could not represent.
			err = shiftOwners(p.Rootfs, us.shift, us.size)
		}
		if err == nil {
			err = mount.Bind(p.Rootfs, fd, false, 0)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("app %q: rootfs: %w", p.Name, err)
		}
	} else {
		if us != nil {
			for _, l := range p.LowerDirs {
				if err := us.idmap(l); err != nil {
					return fmt.Errorf("app %q: layer: %w", p.Name, err)
				}
			}
			// The upper dir is the merged root's owner: the namespace's.
			if err := os.Lchown(p.UpperDir, int(us.shift), int(us.shift)); err != nil {
				return fmt.Errorf("app %q: %w", p.Name, err)
			}
		}
		attached := false
		if premade >= 0 {
			err := attachOverlay(p, premade)
			if attached = err == nil; !attached {
				debugf("%v: mounting it here", err)
			}
		}
		if !attached {
			if err := mountOverlay(p); err != nil {
				return err
			}
		}
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
		var ids mount.IDShift
		if us != nil {
			ids = mount.IDShift{Shift: us.shift, Size: us.size}
		}
		if err := mount.CopyTree(root, c.Target, c.Volume, ids); err != nil {
			return fmt.Errorf("app %q: volume %s: %w", p.Name, c.Target, err)
		}
	}
	for _, s := range p.Mounts {
		if err := runStep(root, s, us); err != nil {
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

func runStep(root int, s Step, us *userns) error {
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
		if s.Idmap && us != nil {
			return mount.BindIdmapped(s.Source, fd, s.Recursive, s.Attrs, us.fd)
		}
		return mount.Bind(s.Source, fd, s.Recursive, s.Attrs)
	case StepDevice:
		// A node made in the fresh /dev costs no mount (six per app
		// otherwise), to make now and to unmount when the pod ends.
		var st unix.Stat_t
		if err := unix.Stat(s.Source, &st); err != nil {
			return fmt.Errorf("source %s: %w", s.Source, err)
		}
		if t := st.Mode & unix.S_IFMT; us == nil && (t == unix.S_IFCHR || t == unix.S_IFBLK) {
			err := mount.MknodInRoot(root, s.Target, st.Mode, st.Rdev, int(st.Uid), int(st.Gid))
			if !errors.Is(err, unix.EPERM) {
				return err
			}
			// No right to make device nodes here: bind the host's.
		}
		return runStep(root, Step{Kind: StepBind, Target: s.Target, Source: s.Source}, us)
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

// shiftOwners moves every owner under dir (never following symlinks) into
// the range [shift, shift+size): ID n becomes shift+n. IDs beyond size are
// left alone (they stay unmapped, "nobody", in the namespace). The walk is
// confined to dir (os.Root): the tree comes from an image.
func shiftOwners(dir string, shift, size uint32) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		uid, gid := st.Uid, st.Gid
		if uid < size {
			uid += shift
		}
		if gid < size {
			gid += shift
		}
		if uid == st.Uid && gid == st.Gid {
			return nil
		}
		mode := info.Mode()
		if err := root.Lchown(p, int(uid), int(gid)); err != nil {
			return fmt.Errorf("shifting the owner of %s: %w", p, err)
		}
		// chown clears the set-ID bits of files: put them back.
		if mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 && mode&fs.ModeSymlink == 0 {
			return root.Chmod(p, mode)
		}
		return nil
	})
}

// mountOverlay mounts the app's overlay rootfs with the volatile option:
// no sync of the upper dir's file system, ever. Without it, the overlay's
// unmount when the pod exits syncs the whole host file system the pod dir
// is on and flushes the disk's cache, which an exiting pod waits for. A
// pod's upper dir is never mounted again (export reads it directly) and a
// pod that a host crash cut short is garbage, so nothing needs the sync.
// Kernels before 5.10 do not know the option (EINVAL), and options that
// fill the page the kernel takes leave no room for it: both get a plain
// overlay.
func mountOverlay(p AppPlan) error {
	if data := p.OverlayData + ",volatile"; len(data) < unix.Getpagesize() {
		if err := mount.Overlay(p.Rootfs, data); !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return mount.Overlay(p.Rootfs, p.OverlayData)
}
