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

// masqLock serializes the check and the append of masquerade rules
// between pods starting at once.
const masqLock = "/run/lock/rkt-masquerade.lock"

// ensureMasquerade makes sure traffic from subnet to anywhere outside it
// leaves the host masqueraded.
func ensureMasquerade(ctx context.Context, network string, subnet *net.IPNet) error {
	s := subnet.String()
	rule := []string{"POSTROUTING", "-s", s, "!", "-d", s, "-m", "comment", "--comment", "rkt network " + network, "-j", "MASQUERADE"}
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
	iptables := func(op string) error {
		out, err := exec.CommandContext(ctx, "iptables", append([]string{"--wait", "-t", "nat", op}, rule...)...).CombinedOutput() //nolint:gosec // G204: a fixed rule; the subnet is a CIDR we formatted, the network name a checked CNI name
		if err != nil {
			return fmt.Errorf("iptables %s %v: %w: %s", op, rule, err, out)
		}
		return nil
	}
	if err := iptables("-C"); err == nil {
		return nil
	} else if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("masquerade for network %q needs iptables: %w", network, err)
	}
	if err := iptables("-A"); err != nil {
		return fmt.Errorf("masquerade for network %q: %w", network, err)
	}
	return nil
}
