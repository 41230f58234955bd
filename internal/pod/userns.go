package pod

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A pod with --private-users gets its own range of host IDs: root in its
// apps is the range's first ID. Ranges are 65536 IDs long and start at a
// multiple of 65536 from 65536 on (rkt 1.x's shift), so they never hold
// the host's usual users.
const (
	UsernsSize = 65536
	usernsDir  = "userns"
	// UsernsFile in the pod directory records the pod's range as
	// SHIFT:COUNT.
	UsernsFile = "userns"
	maxShift   = 0x7FFF // the highest k in k*65536
)

// AllocateUserns gives the pod a range of host IDs no other pod of dataDir
// holds: the record <dataDir>/userns/<shift>, created exclusively, names
// the pod, so concurrent pods never share one. A pod that has a range
// already keeps it. It returns SHIFT:COUNT, as stage1's --private-users
// takes it.
func (p *Pod) AllocateUserns() (string, error) {
	if b, err := os.ReadFile(filepath.Join(p.Dir, UsernsFile)); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	dir := filepath.Join(p.dataDir, usernsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("pod %s: user namespace: %w", p.UUID, err)
	}
	var buf [2]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", err
	}
	start := int(binary.LittleEndian.Uint16(buf[:]) % maxShift)
	for i := range maxShift {
		k := (start+i)%maxShift + 1
		shift := k * UsernsSize
		rec := filepath.Join(dir, strconv.Itoa(shift))
		f, err := os.OpenFile(rec, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("pod %s: user namespace: %w", p.UUID, err)
		}
		_, werr := f.WriteString(p.UUID)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		val := fmt.Sprintf("%d:%d", shift, UsernsSize)
		if werr == nil {
			werr = os.WriteFile(filepath.Join(p.Dir, UsernsFile), []byte(val), 0o640) //nolint:gosec // read by rkt status callers of the rkt group
		}
		if werr != nil {
			_ = os.Remove(rec)
			return "", fmt.Errorf("pod %s: user namespace: %w", p.UUID, werr)
		}
		return val, nil
	}
	return "", fmt.Errorf("pod %s: every user namespace range is taken", p.UUID)
}

// FreeUserns gives the pod's range back (its record, if the record still
// names this pod).
func (p *Pod) FreeUserns() error {
	b, err := os.ReadFile(filepath.Join(p.Dir, UsernsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	shift, _, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if _, err := strconv.Atoi(shift); !ok || err != nil {
		return fmt.Errorf("pod %s: %s: %q is not SHIFT:COUNT", p.UUID, UsernsFile, b)
	}
	rec := filepath.Join(p.dataDir, usernsDir, shift)
	owner, err := os.ReadFile(rec) //nolint:gosec // G703: shift is a decimal number (checked above)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(owner) != p.UUID {
		return nil // reused since: not ours to free
	}
	return os.Remove(rec) //nolint:gosec // G703: shift is a decimal number (checked above)
}
