package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// Where network configurations and plugins live, relative to the local
// configuration directory or the stage1 tree, as in rkt 1.x.
const (
	// ConfDir holds *.conf and *.conflist files (and, in the local
	// configuration, plugins too).
	ConfDir = "net.d"
	// Stage1ConfDir is the built-in configurations in the stage1 tree.
	Stage1ConfDir = "etc/rkt/net.d"
	// Stage1PluginDir is the stage1 image's own plugins.
	Stage1PluginDir = "usr/lib/rkt/plugins/net"
	// SystemPluginDir is the host's plugin directory for rkt.
	SystemPluginDir = "/usr/lib/rkt/plugins/net"
)

// Builtin are the built-in networks (stage1's etc/rkt/net.d): rkt 1.x's,
// in today's CNI version.
var Builtin = map[string]string{
	"99-default.conf": `{"cniVersion":"1.0.0","name":"default","type":"ptp","ipMasq":false,"` + MasqueradeKey + `":true,` +
		`"ipam":{"type":"host-local","subnet":"172.16.28.0/24","routes":[{"dst":"0.0.0.0/0"}]}}` + "\n",
	"99-default-restricted.conf": `{"cniVersion":"1.0.0","name":"default-restricted","type":"ptp","ipMasq":false,` +
		`"ipam":{"type":"host-local","subnet":"172.31.0.0/16"}}` + "\n",
}

// Conf is one network configuration file.
type Conf struct {
	Name string
	// File is the file's path; User says it is the local configuration's.
	File string
	User bool
	// List is the file's configuration as a list of plugins, in the form
	// applied (a single-plugin .conf becomes a one-element list).
	List []byte
	// cni and rkt are List as libcni and as rkt read it (rktOK: List
	// fits rkt's view), parsed once by ParseConf, so that choosing the
	// networks, the port forwards and the ADD read no file again.
	cni   *libcni.NetworkConfigList
	rkt   listConf
	rktOK bool
}

// LoadConfs reads the networks of the local configuration's net.d (none
// when localConfig is empty) and the stage1 tree's built-ins, sorted by
// file name. A user file overrides a built-in of the same file name or of
// the same network name.
func LoadConfs(localConfig, stage1Rootfs string) ([]Conf, error) {
	var user []Conf
	if localConfig != "" {
		var err error
		if user, err = readConfDir(filepath.Join(localConfig, ConfDir), true); err != nil {
			return nil, err
		}
	}
	builtin, err := readConfDir(filepath.Join(stage1Rootfs, Stage1ConfDir), false)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	files := map[string]bool{}
	for _, c := range user {
		if prev, ok := names[c.Name]; ok {
			return nil, fmt.Errorf("network %q is defined twice: in %s and in %s", c.Name, prev, c.File)
		}
		names[c.Name] = c.File
		files[filepath.Base(c.File)] = true
	}
	all := user
	for _, c := range builtin {
		if _, ok := names[c.Name]; !ok && !files[filepath.Base(c.File)] {
			all = append(all, c)
		}
	}
	slices.SortStableFunc(all, func(a, b Conf) int { return strings.Compare(filepath.Base(a.File), filepath.Base(b.File)) })
	return all, nil
}

func readConfDir(dir string, user bool) ([]Conf, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network configurations: %w", err)
	}
	var out []Conf
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if ext != ".conf" && ext != ".conflist" || e.IsDir() {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("network configuration %s: %w", file, err)
		}
		c, err := ParseConf(data, ext == ".conflist")
		if err != nil {
			return nil, fmt.Errorf("network configuration %s: %w", file, err)
		}
		c.File, c.User = file, user
		out = append(out, c)
	}
	return out, nil
}

// maxConfSize bounds a configuration file.
const maxConfSize = 1 << 20

// ParseConf checks a .conf (one plugin) or .conflist file and returns it
// as a Conf (File and User unset): its network name and its configuration
// as a list, parsed.
func ParseConf(data []byte, isList bool) (Conf, error) {
	if len(data) > maxConfSize {
		return Conf{}, errors.New("larger than 1 MiB")
	}
	if !isList {
		c, err := libcni.NetworkPluginConfFromBytes(data)
		if err != nil {
			return Conf{}, err
		}
		list, err := json.Marshal(map[string]any{
			"cniVersion": c.Network.CNIVersion,
			"name":       c.Network.Name,
			"plugins":    []json.RawMessage{c.Bytes},
		})
		if err != nil {
			return Conf{}, err
		}
		data = list
	}
	c, err := parseListConf(data)
	if err != nil {
		return Conf{}, err
	}
	if !validNetName(c.Name) {
		return Conf{}, fmt.Errorf("invalid network name %q", c.Name)
	}
	return c, nil
}

// parseListConf parses a configuration list, as libcni and as rkt read
// it: the one place a Conf's List is parsed.
func parseListConf(list []byte) (Conf, error) {
	l, err := libcni.ConfListFromBytes(list)
	if err != nil {
		return Conf{}, err
	}
	c := Conf{Name: l.Name, List: list, cni: l}
	c.rkt, c.rktOK = parseList(list)
	return c, nil
}

// validNetName says whether n may name a network in net.d: a CNI name
// that --net can select (not host, none or all).
func validNetName(n string) bool {
	return abi.ValidNetName(n) && n != abi.NetHost && n != abi.NetNone && n != abi.NetAll
}

// Net is one network the pod is to join.
type Net struct {
	Conf
	// Args are the CNI_ARGS of --net=NAME:ARGS.
	Args string
	// IfName is the pod's interface on it: eth0, eth1, ...
	IfName string
	// CapabilityArgs are the CNI capability arguments (AddPorts).
	CapabilityArgs map[string]any
}

// Select picks the requested networks (abi.ParseNets' output, not host or
// none) in file-name order. all is every user network plus default.
func Select(confs []Conf, reqs []abi.NetRequest) ([]Net, error) {
	want := map[string]string{}
	all := false
	for _, r := range reqs {
		if r.Name == abi.NetAll {
			all = true
			continue
		}
		want[r.Name] = r.Args
	}
	var out []Net
	found := map[string]bool{}
	for _, c := range confs {
		args, ok := want[c.Name]
		if !ok && !(all && (c.User || c.Name == abi.NetDefault)) {
			continue
		}
		found[c.Name] = true
		out = append(out, Net{Conf: c, Args: args, IfName: fmt.Sprintf("eth%d", len(out))})
	}
	var missing []string
	for _, r := range reqs {
		if r.Name != abi.NetAll && !found[r.Name] {
			missing = append(missing, r.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("networks not found: %s", strings.Join(missing, ", "))
	}
	if len(out) == 0 {
		return nil, errors.New("no networks to join")
	}
	return out, nil
}

// PluginDirs are where plugins are looked for, in rkt's order (the local
// configuration's net.d, the system directory, the stage1 image's own),
// then the usual host directories for plugins the stage1 image lacks.
func PluginDirs(localConfig, stage1Rootfs string) []string {
	var dirs []string
	if localConfig != "" {
		dirs = append(dirs, filepath.Join(localConfig, ConfDir))
	}
	return append(dirs, SystemPluginDir, filepath.Join(stage1Rootfs, Stage1PluginDir),
		"/usr/libexec/cni", "/usr/lib/cni", "/opt/cni/bin")
}
