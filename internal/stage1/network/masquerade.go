package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// MasqueradeKey is rkt's key in a network configuration (a .conf's plugin
// or a .conflist's top level) asking for IP masquerade of the whole
// network: one rule for the network's subnet, made by the first pod and
// kept for every later one. It does what a plugin's per-pod "ipMasq" does,
// without the per-pod rules whose removal the kernel makes wait for a
// grace period each (tens of milliseconds at every pod's end); the
// built-in default network uses it.
const MasqueradeKey = "rktMasquerade"

// masqLock serializes the appends of masquerade rules (and the checks
// before them) between pods starting at once.
const masqLock = "/run/lock/rkt-masquerade.lock"

// ensureMasquerade makes sure traffic from subnet to anywhere outside it
// leaves the host masqueraded, and that the host forwards the network's
// traffic even where the FORWARD chain's policy is DROP (Docker sets it):
// out from the subnet, and back in to it for connections it made or that
// a port forward (DNAT) made. The rules are appended, after the host's own
// ones, once per host; the last one made says they all are there.
func ensureMasquerade(ctx context.Context, network string, subnet *net.IPNet) error {
	s := subnet.String()
	comment := []string{"-m", "comment", "--comment", "rkt network " + network}
	rules := [][]string{
		append([]string{"nat", "POSTROUTING", "-s", s, "!", "-d", s}, append(comment, "-j", "MASQUERADE")...),
		append([]string{"filter", "FORWARD", "-s", s}, append(comment, "-j", "ACCEPT")...),
		append([]string{"filter", "FORWARD", "-d", s, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT"}, append(comment, "-j", "ACCEPT")...),
	}
	iptables := func(op string, rule []string) error {
		args := append([]string{"--wait", "-t", rule[0], op}, rule[1:]...)
		out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput() //nolint:gosec // G204: fixed rules; the subnet is a CIDR we formatted, the network name a checked CNI name
		if err != nil {
			return fmt.Errorf("iptables %v: %w: %s", args, err, out)
		}
		return nil
	}
	// The last rule made says they all are there: look without the lock,
	// so that pods starting at once do not queue for one iptables run.
	last := rules[len(rules)-1]
	if err := iptables("-C", last); err == nil {
		return nil
	} else if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("masquerade for network %q needs iptables: %w", network, err)
	}
	if err := os.MkdirAll("/run/lock", 0o755); err != nil { //nolint:gosec // G301: the system's lock directory
		return fmt.Errorf("masquerade: %w", err)
	}
	lock, err := os.OpenFile(masqLock, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	for _, rule := range rules {
		if iptables("-C", rule) == nil {
			continue
		}
		if err := iptables("-A", rule); err != nil {
			return fmt.Errorf("masquerade for network %q: %w", network, err)
		}
	}
	return nil
}
