package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// Pod is the pod the networks are for.
type Pod struct {
	// Dir is the pod directory, absolute.
	Dir  string
	UUID string
	// PluginDirs are searched for plugins (PluginDirs).
	PluginDirs []string
	// Debugf logs, if set.
	Debugf func(format string, args ...any)
}

// NewPod describes the pod of directory dir (absolute), whose stage1 tree
// is mounted there, with rkt's local configuration directory.
func NewPod(dir, uuid, localConfig string) Pod {
	p := Pod{Dir: dir, UUID: uuid}
	p.PluginDirs = PluginDirs(localConfig, p.Stage1Rootfs())
	return p
}

// Stage1Rootfs is the pod's stage1 tree.
func (p Pod) Stage1Rootfs() string { return filepath.Join(p.Dir, abi.Stage1Rootfs) }

func (p Pod) debugf(format string, args ...any) {
	if p.Debugf != nil {
		p.Debugf(format, args...)
	}
}

func (p Pod) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(p.PluginDirs, filepath.Join(p.Dir, abi.CNICache), nil)
}

// Setup creates the pod's network namespace and attaches it to nets in
// order. It returns the namespace's path and what each network gave. Each
// network is recorded in net-info.json before its ADD runs; on failure
// Setup tears down what it did, and what it could not tear down stays
// recorded for Teardown.
func Setup(ctx context.Context, p Pod, nets []Net) (nsPath string, infos []abi.Network, err error) {
	ensurePath()
	nsPath = NetNSPath(p.UUID)
	if err := createNetNS(nsPath); err != nil {
		return "", nil, err
	}
	if err := podinit.WriteAtomic(filepath.Join(p.Dir, abi.NetNS), []byte(nsPath)); err != nil {
		return "", nil, errors.Join(fmt.Errorf("recording the network namespace: %w", err), removeNetNS(nsPath))
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, Teardown(ctx, p))
			nsPath, infos = "", nil
		}
	}()
	p.debugf("network namespace %s", nsPath)
	cni := p.cni()
	infos = make([]abi.Network, 0, len(nets))
	for _, n := range nets {
		info := abi.Network{
			NetInfoV1: abi.NetInfoV1{NetName: n.Name, ConfPath: n.File, IfName: n.IfName, Args: n.Args},
			Config:    n.List, CapabilityArgs: n.CapabilityArgs,
		}
		list := n.cni
		if list == nil {
			return nsPath, infos, fmt.Errorf("network %q: configuration not parsed (ParseConf)", n.Name)
		}
		if len(list.Plugins) > 0 {
			info.PluginPath, _ = invoke.FindInPath(list.Plugins[0].Network.Type, p.PluginDirs)
		}
		infos = append(infos, info)
		if err := writeNetInfo(p.Dir, infos); err != nil {
			return nsPath, infos, err
		}
		res, err := cni.AddNetworkList(ctx, list, runtimeConf(p.UUID, nsPath, info))
		if err != nil {
			return nsPath, infos, addError(n, err)
		}
		subnet, err := fillResult(&infos[len(infos)-1], res)
		if err != nil {
			return nsPath, infos, fmt.Errorf("network %q: %w", n.Name, err)
		}
		if n.rkt.rktMasquerade() {
			if subnet == nil {
				return nsPath, infos, fmt.Errorf("network %q: masquerade needs an IPv4 address, and the network gave none", n.Name)
			}
			if err := ensureMasquerade(ctx, n.Name, subnet); err != nil {
				return nsPath, infos, err
			}
		}
		p.debugf("joined network %s as %s: %s", n.Name, n.IfName, infos[len(infos)-1].IP)
	}
	if err := writeNetInfo(p.Dir, infos); err != nil {
		return nsPath, infos, err
	}
	return nsPath, infos, nil
}

// addError words a failed ADD; a requested address that is taken gets rkt
// 1.x's message.
func addError(n Net, err error) error {
	for _, kv := range strings.Split(n.Args, ";") {
		if k, v, _ := strings.Cut(kv, "="); k == "IP" && strings.Contains(err.Error(), "not available") {
			return fmt.Errorf("requested IP address %q is not available in network: %s", v, n.Name)
		}
	}
	return fmt.Errorf("network %q: %w", n.Name, err)
}

// Teardown detaches the pod from every network recorded in its directory,
// last first, then removes the namespace. A pod without a recorded
// namespace (host or no networking, or torn down already) is left alone.
// What fails stays recorded, so that the next Teardown (gc) tries again.
func Teardown(ctx context.Context, p Pod) error {
	ensurePath()
	raw, err := os.ReadFile(filepath.Join(p.Dir, abi.NetNS))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	nsPath := string(raw)
	if nsPath != NetNSPath(p.UUID) {
		return fmt.Errorf("network teardown: %s names %q, not this pod's namespace", abi.NetNS, nsPath)
	}
	infos, err := ReadNetInfo(p.Dir)
	if err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	// After a reboot the file is an empty one: the plugins get no
	// namespace, and clean up the host side only.
	ns := nsPath
	if !isNetNS(nsPath) {
		ns = ""
	}
	if ns != "" && !delNeedsNetNS(infos) {
		// The namespace goes first: the kernel then removes the pod's
		// interfaces in the background, where a plugin deleting them
		// would wait for a grace period.
		if err := removeNetNS(nsPath); err != nil {
			return fmt.Errorf("network teardown: %w", err)
		}
		ns = ""
	}
	cni := p.cni()
	var errs []error
	for i := len(infos) - 1; i >= 0; i-- {
		info := infos[i]
		list, err := libcni.ConfListFromBytes(info.Config)
		if err == nil {
			err = cni.DelNetworkList(ctx, list, runtimeConf(p.UUID, ns, info))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("network %q: %w", info.NetName, err))
			continue
		}
		p.debugf("left network %s", info.NetName)
	}
	if len(errs) > 0 {
		return fmt.Errorf("network teardown: %w", errors.Join(errs...))
	}
	if err := removeNetNS(nsPath); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	if err := os.Remove(filepath.Join(p.Dir, abi.NetNS)); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	return nil
}

// delNeedsNetNS reports whether a plugin of the networks may need the
// pod's namespace for its DEL (listConf.delNeedsNetNS); an unreadable
// configuration is taken to need it.
func delNeedsNetNS(infos []abi.Network) bool {
	for _, info := range infos {
		if l, ok := parseList(info.Config); !ok || l.delNeedsNetNS() {
			return true
		}
	}
	return false
}

// runtimeConf is the same for a network's ADD and DEL.
func runtimeConf(uuid, nsPath string, info abi.Network) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: uuid, NetNS: nsPath, IfName: info.IfName, CapabilityArgs: info.CapabilityArgs}
	if info.Args != "" {
		// Plugins refuse keys they do not know unless told not to.
		rt.Args = [][2]string{{"IgnoreUnknown", "1"}}
		for _, kv := range strings.Split(info.Args, ";") {
			k, v, _ := strings.Cut(kv, "=")
			rt.Args = append(rt.Args, [2]string{k, v})
		}
	}
	return rt
}

// fillResult records a network's address, gateway and DNS: the first
// IPv4 address on the pod's interface (or on no named interface), whose
// subnet it returns (nil for none).
func fillResult(info *abi.Network, res cnitypes.Result) (*net.IPNet, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, err
	}
	var subnet *net.IPNet
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() == nil {
			continue
		}
		if ip.Interface != nil && *ip.Interface >= 0 && *ip.Interface < len(r.Interfaces) {
			if iface := r.Interfaces[*ip.Interface]; iface.Sandbox == "" || iface.Name != info.IfName {
				continue
			}
		}
		info.IP = ip.Address.IP.String()
		info.Mask = net.IP(ip.Address.Mask).String()
		if ip.Gateway != nil {
			info.HostIP = ip.Gateway.String()
		}
		subnet = &net.IPNet{IP: ip.Address.IP.To4().Mask(ip.Address.Mask), Mask: ip.Address.Mask}
		break
	}
	if len(r.DNS.Nameservers) > 0 || len(r.DNS.Search) > 0 || len(r.DNS.Options) > 0 || r.DNS.Domain != "" {
		info.DNS = &abi.NetDNS{Nameservers: r.DNS.Nameservers, Domain: r.DNS.Domain, Search: r.DNS.Search, Options: r.DNS.Options}
	}
	return subnet, nil
}

// ReadNetInfo reads the pod directory's net-info.json (none: nil).
func ReadNetInfo(podDir string) ([]abi.Network, error) {
	raw, err := os.ReadFile(filepath.Join(podDir, abi.NetInfo))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var infos []abi.Network
	if err := json.Unmarshal(raw, &infos); err != nil {
		return nil, fmt.Errorf("%s: %w", abi.NetInfo, err)
	}
	return infos, nil
}

func writeNetInfo(podDir string, infos []abi.Network) error {
	data, err := json.Marshal(infos)
	if err != nil {
		return err
	}
	if err := podinit.WriteAtomic(filepath.Join(podDir, abi.NetInfo), data); err != nil {
		return fmt.Errorf("writing %s: %w", abi.NetInfo, err)
	}
	return nil
}

// ensurePath gives the plugins a PATH (they run iptables) when the pod's
// environment has none.
func ensurePath() {
	if os.Getenv("PATH") == "" {
		_ = os.Setenv("PATH", podinit.DefaultPath)
	}
}
