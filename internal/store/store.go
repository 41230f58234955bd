package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
)

// Version is the on-disk format version this rkt writes and reads.
const Version = 1

// LockMode is how a Store holds the store-wide lock.
type LockMode int

// Lock modes.
const (
	// Shared is for fetching, reading and adding: many processes at once.
	Shared LockMode = iota
	// Exclusive is for removing (image rm, image gc) and migrations.
	Exclusive
)

// Store is an open image store.
type Store struct {
	dir  string
	lock *os.File
	mode LockMode
	// Debugf receives diagnostic lines; it may be nil.
	Debugf func(format string, args ...any)
}

// subdirectories of the store, and their modes. Rendered layers may hold
// setuid binaries from images, so they are reachable by root only.
var subdirs = []struct {
	name string
	mode os.FileMode
}{
	{"blobs", 0o700},
	{"blobs/sha256", 0o700},
	{"blobs/sha512", 0o700},
	{"images", 0o750},
	{"refs", 0o750},
	{"layers", 0o700},
	{"tmp", 0o700},
	{"locks", 0o750},
}

// Open opens (creating if needed) the store in dir and takes the store lock
// in mode. Close releases it.
func Open(dir string, mode LockMode) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640) //nolint:gosec // G302: rkt-group readers lock the store too
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{dir: dir, lock: lf, mode: mode}
	// Most opens find a current store: check it under the lock mode asked
	// for. Creating and migrating need the lock exclusively.
	if err := s.flock(mode); err != nil {
		lf.Close()
		return nil, err
	}
	current, err := s.current()
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if current {
		return s, nil
	}
	if mode == Shared {
		if err := s.flock(Exclusive); err != nil {
			lf.Close()
			return nil, err
		}
	}
	if err := s.init(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if mode == Shared {
		if err := s.flock(Shared); err != nil {
			lf.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) flock(mode LockMode) error {
	how := unix.LOCK_SH
	if mode == Exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(s.lock.Fd()), how)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lock store %s: %w", s.dir, err)
		}
		return nil
	}
}

// current reports whether the store exists at this rkt's version. A newer
// version is an error.
func (s *Store) current() (bool, error) {
	raw, err := os.ReadFile(filepath.Join(s.dir, "version"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	v, err := parseVersion(raw)
	if err != nil {
		return false, err
	}
	return v == Version, nil
}

func parseVersion(raw []byte) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("version file: %q is not a version", strings.TrimSpace(string(raw)))
	}
	if v > Version {
		return 0, errdefs.InvalidArgument(fmt.Errorf("store version %d is newer than this rkt supports (%d): use a newer rkt", v, Version))
	}
	return v, nil
}

// init creates the layout or checks and migrates an existing one. It runs
// under the exclusive lock.
func (s *Store) init() error {
	vpath := filepath.Join(s.dir, "version")
	raw, err := os.ReadFile(vpath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		for _, d := range subdirs {
			if err := os.MkdirAll(filepath.Join(s.dir, d.name), d.mode); err != nil {
				return err
			}
		}
		// The version file is written last: it is the commit point.
		return writeFileAtomic(vpath, []byte(strconv.Itoa(Version)+"\n"), 0o640)
	case err != nil:
		return err
	}
	v, err := parseVersion(raw)
	if err != nil {
		return err
	}
	for ; v < Version; v++ {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("no migration from store version %d", v)
		}
		if err := m(s); err != nil {
			return fmt.Errorf("migrate store from version %d: %w", v, err)
		}
		if err := writeFileAtomic(vpath, []byte(strconv.Itoa(v+1)+"\n"), 0o640); err != nil {
			return err
		}
	}
	// A directory removed by hand is recreated rather than failing later.
	for _, d := range subdirs {
		if err := os.MkdirAll(filepath.Join(s.dir, d.name), d.mode); err != nil {
			return err
		}
	}
	return nil
}

// migrations upgrade the store from version N to N+1, under the exclusive
// lock. Each must be safe to re-run if it is interrupted.
var migrations = map[int]func(*Store) error{}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the store lock.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

func (s *Store) debugf(format string, args ...any) {
	if s.Debugf != nil {
		s.Debugf(format, args...)
	}
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it into place, so readers see the old or the new content,
// never a part, also after a power loss.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomicSync(path, data, mode, true)
}

// writeFileAtomicSync is writeFileAtomic, with the sync optional for
// records whose loss in a crash does not matter (a last-used time).
func writeFileAtomicSync(path string, data []byte, mode os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// lockFile takes an exclusive lock on locks/<key>, waiting for it, and
// returns the unlock function. Per-object locks let concurrent fetches
// share the work: the second waits, then finds the object present.
func (s *Store) lockFile(key string) (func(), error) {
	f, err := os.OpenFile(s.path("locks", key), os.O_RDWR|os.O_CREATE, 0o640) //nolint:gosec // G302: lock files hold no data
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return func() { _ = f.Close() }, nil
}
