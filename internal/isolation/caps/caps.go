package caps

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Set is a set of capabilities, bit n for capability n.
type Set uint64

// Has reports whether c is in s.
func (s Set) Has(c int) bool { return c >= 0 && c < 64 && s&(1<<uint(c)) != 0 }

// Add returns s with c added.
func (s Set) Add(c int) Set { return s | 1<<uint(c) }

// Len is the number of capabilities in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Names lists the names of s in capability order.
func (s Set) Names() []string {
	var out []string
	for c := range 64 {
		if s.Has(c) {
			out = append(out, Name(c))
		}
	}
	return out
}

// String is the names of s joined by commas.
func (s Set) String() string { return strings.Join(s.Names(), ",") }

// names are the capabilities Linux knows, by number.
var names = [...]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// Name returns the name of capability c ("CAP_CHOWN"), or "CAP_<n>" for a
// number this package does not know.
func Name(c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return "CAP_" + strconv.Itoa(c)
}

// Parse returns the number of a capability name. The "CAP_" prefix and
// the case are optional ("CAP_NET_ADMIN", "net_admin"), as in rkt and
// docker.
func Parse(name string) (int, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for c, s := range names {
		if s == n {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// ParseSet parses a list of capability names.
func ParseSet(list []string) (Set, error) {
	var s Set
	for _, n := range list {
		c, err := Parse(n)
		if err != nil {
			return 0, err
		}
		s = s.Add(c)
	}
	return s, nil
}

// Default is rkt's default bounding set for an app.
var Default = func() Set {
	var s Set
	for _, c := range []int{
		unix.CAP_AUDIT_WRITE, unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE,
		unix.CAP_FSETID, unix.CAP_FOWNER, unix.CAP_KILL, unix.CAP_MKNOD,
		unix.CAP_NET_RAW, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETUID,
		unix.CAP_SETGID, unix.CAP_SETPCAP, unix.CAP_SETFCAP,
		unix.CAP_SYS_CHROOT,
	} {
		s = s.Add(c)
	}
	return s
}()

// Isolator names.
const (
	RetainSetName = "os/linux/capabilities-retain-set"
	RemoveSetName = "os/linux/capabilities-remove-set"
)

// Bounding computes an app's bounding set from its isolators: a retain set
// is the bounding set; a remove set takes capabilities from the default;
// neither gives the default. Both at once is an error, as in appc.
func Bounding(retain, remove *Set) (Set, error) {
	switch {
	case retain != nil && remove != nil:
		return 0, fmt.Errorf("%s and %s are mutually exclusive", RetainSetName, RemoveSetName)
	case retain != nil:
		return *retain, nil
	case remove != nil:
		return Default &^ *remove, nil
	}
	return Default, nil
}

// LastCap is the highest capability the running kernel knows
// (/proc/sys/kernel/cap_last_cap), or the highest this package knows
// when that cannot be read.
func LastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
			return n
		}
	}
	return len(names) - 1
}

// LimitThread limits the calling thread, and so what it forks: every
// capability outside keep leaves the bounding set, the ambient and
// inheritable sets are emptied. The permitted and effective sets are kept,
// so the thread (and a child before its exec) can still set its
// credentials; an exec then gives a root app exactly keep (root's file
// capabilities are masked by the bounding set) and a non-root app none.
// The caller must have locked its OS thread and must not unlock it.
func LimitThread(keep Set, lastCap int) error {
	for c := 0; c <= lastCap; c++ {
		if keep.Has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("dropping %s from the bounding set: %w", Name(c), err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clearing the ambient set: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: this thread
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clearing the inheritable set: %w", err)
	}
	return nil
}

// ParseStatus reads the Cap* lines of a /proc/<pid>/status file.
func ParseStatus(status string) (map[string]Set, error) {
	out := map[string]Set{}
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = Set(n)
	}
	if len(out) == 0 {
		return nil, errors.New("no capability lines")
	}
	return out, nil
}
