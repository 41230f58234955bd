package rootfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// resolveFlags confine a lookup to the root: symlinks are followed as if
// the root were "/", magic links and mount crossings are refused.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// maxLinkHops bounds how many dangling symlinks mkdirAll follows to create
// their targets, like the kernel's 40 nested symlinks.
const maxLinkHops = 40

// dropCache closes the cached parent directory.
func (a *applier) dropCache() {
	if a.cache != nil {
		unix.Close(a.cache.fd)
		a.cache = nil
	}
	a.cacheDirty = false
}

// parentOf returns the open parent directory of the non-root path p,
// creating missing directories, and p's last component.
func (a *applier) parentOf(p string) (*parentDir, string, error) {
	dir, base := splitPath(p)
	par, err := a.parent(dir, true)
	return par, base, err
}

// parent returns the directory dir open, from the cache if it is the one
// used last. With create, missing directories are created (0755).
func (a *applier) parent(dir string, create bool) (*parentDir, error) {
	if dir == "" {
		return &a.rootPar, nil
	}
	if a.cacheDirty {
		a.dropCache()
	}
	if a.cache != nil && a.cache.path == dir {
		return a.cache, nil
	}
	fd, via, err := a.openDir(dir)
	if create && errors.Is(err, unix.ENOENT) {
		fd, via, err = a.mkdirAll(dir, 0)
	}
	if err != nil {
		return nil, err
	}
	return a.setCache(dir, fd, via)
}

// setCache makes fd, open on dir, the cached parent directory.
func (a *applier) setCache(dir string, fd int, via bool) (*parentDir, error) {
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		unix.Close(fd)
		return nil, err
	}
	a.dropCache()
	a.cache = &parentDir{
		path:       dir,
		fd:         fd,
		viaSymlink: via,
		setgid:     stx.Mode&unix.S_ISGID != 0,
		gid:        stx.Gid,
		defaultACL: hasDefaultACL(fd),
	}
	return a.cache, nil
}

// openDir opens the directory dir below the root. Symlinks on the way are
// followed inside the root; via reports whether there were any.
func (a *applier) openDir(dir string) (fd int, via bool, err error) {
	fd, err = openat2(a.root, dir, unix.O_RDONLY|unix.O_DIRECTORY, resolveFlags|unix.RESOLVE_NO_SYMLINKS)
	if err == nil {
		return fd, false, nil
	}
	if !errors.Is(err, unix.ELOOP) {
		return -1, false, err
	}
	fd, err = openat2(a.root, dir, unix.O_RDONLY|unix.O_DIRECTORY, resolveFlags)
	return fd, true, err
}

// mkdirAll creates the missing directories of dir and returns it open.
// hops counts the dangling symlinks followed so far.
func (a *applier) mkdirAll(dir string, hops int) (int, bool, error) {
	if hops > maxLinkHops {
		return -1, false, unix.ELOOP
	}
	pdir, base := splitPath(dir)
	pfd, pvia := a.root, false
	if pdir != "" {
		var err error
		pfd, pvia, err = a.openDir(pdir)
		if errors.Is(err, unix.ENOENT) {
			pfd, pvia, err = a.mkdirAll(pdir, hops)
		}
		if err != nil {
			return -1, false, err
		}
		defer unix.Close(pfd)
	}
	fd, via, err := a.mkdirIn(pfd, base, dir, hops)
	return fd, via || pvia, err
}

// mkdirIn creates the directory base in pfd, which is the directory dir
// is in, and returns it open. If base is a dangling symlink, its target is
// created inside the root instead.
func (a *applier) mkdirIn(pfd int, base, dir string, hops int) (int, bool, error) {
	err := retryEINTR(func() error { return unix.Mkdirat(pfd, base, 0o755) })
	if errors.Is(err, unix.EEXIST) {
		return a.followDangling(pfd, base, dir, hops)
	}
	if err != nil {
		return -1, false, err
	}
	fd, err := openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, false, err
	}
	var stx unix.Statx_t
	if err := statxFd(fd, &stx); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	a.setPending(dir, &pendingDir{id: idOf(&stx)})
	return fd, hops > 0, nil
}

// followDangling handles a name that exists where mkdirAll wanted to create
// a directory: a symlink whose target is missing, whose target mkdirAll
// then creates inside the root.
func (a *applier) followDangling(pfd int, base, dir string, hops int) (int, bool, error) {
	var stx unix.Statx_t
	if err := statxAt(pfd, base, &stx); err != nil {
		return -1, false, err
	}
	switch stx.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
	case unix.S_IFDIR:
		// Created since we looked; open it.
		fd, err := openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		return fd, hops > 0, err
	default:
		return -1, false, unix.ENOTDIR
	}
	target, err := readlinkat(pfd, base)
	if err != nil {
		return -1, false, err
	}
	next := resolveLinkTarget(dir, target)
	if next == "" {
		return -1, false, fmt.Errorf("symlink %q points at the root", shortName(dir))
	}
	fd, _, err := a.openDir(next)
	if errors.Is(err, unix.ENOENT) {
		fd, _, err = a.mkdirAll(next, hops+1)
	}
	return fd, true, err
}
