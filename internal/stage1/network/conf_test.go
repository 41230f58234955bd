package network

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// confDirs writes a stage1 tree with the built-ins and a local
// configuration with the given net.d files.
func confDirs(t *testing.T, user map[string]string) (local, stage1 string) {
	t.Helper()
	base := t.TempDir()
	local, stage1 = filepath.Join(base, "local"), filepath.Join(base, "stage1")
	for dir, files := range map[string]map[string]string{filepath.Join(stage1, Stage1ConfDir): Builtin, filepath.Join(local, ConfDir): user} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return local, stage1
}

const bridgeConf = `{"cniVersion":"1.0.0","name":"br","type":"bridge","bridge":"rktbr0","ipam":{"type":"host-local","subnet":"10.77.0.0/24"}}`

func names(confs []Conf) []string {
	var out []string
	for _, c := range confs {
		out = append(out, c.Name+"@"+filepath.Base(c.File))
	}
	return out
}

func TestLoadConfs(t *testing.T) {
	for _, c := range []struct {
		name string
		user map[string]string
		want []string
		err  string
	}{
		{name: "built-ins only", want: []string{"default-restricted@99-default-restricted.conf", "default@99-default.conf"}},
		{name: "user network, sorted by file name", user: map[string]string{"10-br.conf": bridgeConf, "README": "not a conf"},
			want: []string{"br@10-br.conf", "default-restricted@99-default-restricted.conf", "default@99-default.conf"}},
		{name: "same file name overrides", user: map[string]string{"99-default.conf": strings.Replace(bridgeConf, `"br"`, `"mine"`, 1)},
			want: []string{"default-restricted@99-default-restricted.conf", "mine@99-default.conf"}},
		{name: "same network name overrides", user: map[string]string{"50-x.conflist": `{"cniVersion":"1.0.0","name":"default","plugins":[{"type":"bridge"}]}`},
			want: []string{"default@50-x.conflist", "default-restricted@99-default-restricted.conf"}},
		{name: "two user files, one name", user: map[string]string{"1.conf": bridgeConf, "2.conf": bridgeConf}, err: `network "br" is defined twice`},
		{name: "broken file", user: map[string]string{"1.conf": "{"}, err: "1.conf"},
		{name: "no type", user: map[string]string{"1.conf": `{"cniVersion":"1.0.0","name":"x"}`}, err: "missing 'type'"},
		{name: "bad name", user: map[string]string{"1.conf": `{"cniVersion":"1.0.0","name":"host","type":"ptp"}`}, err: `invalid network name "host"`},
		{name: "name with a comma", user: map[string]string{"1.conf": `{"cniVersion":"1.0.0","name":"a,b","type":"ptp"}`}, err: `invalid network name "a,b"`},
		{name: "name with args", user: map[string]string{"1.conf": `{"cniVersion":"1.0.0","name":"a:K=V","type":"ptp"}`}, err: `invalid network name "a:K=V"`},
		{name: "list without plugins", user: map[string]string{"1.conflist": `{"cniVersion":"1.0.0","name":"x","plugins":[]}`}, err: "1.conflist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			local, stage1 := confDirs(t, c.user)
			confs, err := LoadConfs(local, stage1)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(confs); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			for _, conf := range confs {
				var l struct {
					Name    string            `json:"name"`
					Plugins []json.RawMessage `json:"plugins"`
				}
				if err := json.Unmarshal(conf.List, &l); err != nil || l.Name != conf.Name || len(l.Plugins) == 0 {
					t.Errorf("%s: list %s: %v", conf.Name, conf.List, err)
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	local, stage1 := confDirs(t, map[string]string{"10-br.conf": bridgeConf, "20-other.conf": strings.Replace(bridgeConf, `"br"`, `"other"`, 1)})
	confs, err := LoadConfs(local, stage1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		nets string
		want []string // name/ifname/args
		err  string
	}{
		{nets: "default", want: []string{"default/eth0/"}},
		{nets: "default:IP=172.16.28.9,br", want: []string{"br/eth0/", "default/eth1/IP=172.16.28.9"}},
		{nets: "all", want: []string{"br/eth0/", "other/eth1/", "default/eth2/"}},
		{nets: "default-restricted", want: []string{"default-restricted/eth0/"}},
		{nets: "nope,br,nada", err: "networks not found: nope, nada"},
	} {
		reqs, err := abi.ParseNets([]string{c.nets})
		if err != nil {
			t.Fatal(err)
		}
		nets, err := Select(confs, reqs)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: err %v, want %q", c.nets, err, c.err)
			}
			continue
		}
		var got []string
		for _, n := range nets {
			got = append(got, n.Name+"/"+n.IfName+"/"+n.Args)
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.nets, got, err, c.want)
		}
	}
}

func plugins(t *testing.T, list []byte) []string {
	t.Helper()
	var l struct {
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(list, &l); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Plugins {
		out = append(out, p.Type)
	}
	return out
}

func TestAddPorts(t *testing.T) {
	mk := func(name, list string) Net {
		c, err := ParseConf([]byte(list), strings.Contains(list, "plugins"))
		if err != nil {
			t.Fatal(err)
		}
		c.Name = name
		return Net{Conf: c}
	}
	ports := []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	restricted, def := Builtin["99-default-restricted.conf"], Builtin["99-default.conf"]
	withPortmap := `{"cniVersion":"1.0.0","name":"pm","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}`

	// The first masquerading network gets them, with portmap chained.
	nets := []Net{mk("r", restricted), mk("d", def), mk("d2", def)}
	if err := AddPorts(nets, ports); err != nil {
		t.Fatal(err)
	}
	if nets[0].CapabilityArgs != nil || nets[2].CapabilityArgs != nil || !reflect.DeepEqual(plugins(t, nets[1].List), []string{"ptp", "portmap"}) {
		t.Errorf("%+v", nets)
	}
	if got := nets[1].CapabilityArgs["portMappings"]; !reflect.DeepEqual(got, ports) {
		t.Errorf("capability args %v", got)
	}
	// What Setup applies is the list with portmap, parsed.
	if l := nets[1].cni; l == nil || string(l.Bytes) != string(nets[1].List) || len(l.Plugins) != 2 || l.Plugins[1].Network.Type != "portmap" {
		t.Errorf("parsed list after AddPorts: %+v", l)
	}
	if !nets[1].rktOK || !nets[1].rkt.takesPortMappings() {
		t.Errorf("rkt's view after AddPorts: %+v", nets[1].rkt)
	}
	// No masquerading network: the last; its own portmap is kept.
	nets = []Net{mk("r", restricted), mk("pm", withPortmap)}
	if err := AddPorts(nets, ports); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plugins(t, nets[1].List), []string{"bridge", "portmap"}) || nets[1].CapabilityArgs == nil {
		t.Errorf("%+v", nets[1])
	}
	if err := AddPorts(nil, ports); err == nil {
		t.Error("ports without networks accepted")
	}
	if err := AddPorts(nets[:1], nil); err != nil || nets[0].CapabilityArgs != nil {
		t.Error("no ports changed something")
	}
}

func TestPortMappings(t *testing.T) {
	app := func(ports ...podinit.Port) podinit.RuntimeApp {
		return podinit.RuntimeApp{Name: "a", App: &podinit.App{Ports: ports}}
	}
	for _, c := range []struct {
		name string
		pm   podinit.PodManifest
		want []PortMapping
		err  string
	}{
		{name: "by name", pm: podinit.PodManifest{
			Apps:  []podinit.RuntimeApp{{Name: "none"}, app(podinit.Port{Name: "80-tcp", Protocol: "tcp", Port: 80})},
			Ports: []podinit.ExposedPort{{Name: "80-tcp", HostPort: 8080, HostIP: "127.0.0.1"}}},
			want: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}}},
		{name: "count", pm: podinit.PodManifest{
			Apps:  []podinit.RuntimeApp{app(podinit.Port{Name: "dns", Protocol: "udp", Port: 53, Count: 2})},
			Ports: []podinit.ExposedPort{{Name: "dns", HostPort: 5353}}},
			want: []PortMapping{{HostPort: 5353, ContainerPort: 53, Protocol: "udp"}, {HostPort: 5354, ContainerPort: 54, Protocol: "udp"}}},
		{name: "pod port", pm: podinit.PodManifest{
			Ports: []podinit.ExposedPort{{Name: "x", HostPort: 1, PodPort: &podinit.Port{Name: "x", Protocol: "tcp", Port: 2}}}},
			want: []PortMapping{{HostPort: 1, ContainerPort: 2, Protocol: "tcp"}}},
		{name: "unknown name", pm: podinit.PodManifest{Apps: []podinit.RuntimeApp{app()}, Ports: []podinit.ExposedPort{{Name: "x", HostPort: 1}}}, err: "no app of the pod has a port"},
		{name: "bad protocol", pm: podinit.PodManifest{Apps: []podinit.RuntimeApp{app(podinit.Port{Name: "x", Protocol: "sctp", Port: 1})}, Ports: []podinit.ExposedPort{{Name: "x", HostPort: 1}}}, err: "not tcp or udp"},
		{name: "range", pm: podinit.PodManifest{Apps: []podinit.RuntimeApp{app(podinit.Port{Name: "x", Protocol: "tcp", Port: 65535, Count: 2})}, Ports: []podinit.ExposedPort{{Name: "x", HostPort: 1}}}, err: "out of range"},
		{name: "bad host ip", pm: podinit.PodManifest{Apps: []podinit.RuntimeApp{app(podinit.Port{Name: "x", Protocol: "tcp", Port: 1})}, Ports: []podinit.ExposedPort{{Name: "x", HostPort: 1, HostIP: "nope"}}}, err: "not an IP"},
	} {
		got, err := PortMappings(&c.pm)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func FuzzParseConf(f *testing.F) {
	for _, s := range []string{bridgeConf, Builtin["99-default.conf"], `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"a"},{"type":"b"}]}`, "{"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, isList bool) {
		c, err := ParseConf(data, isList)
		if err != nil {
			return
		}
		again, err := ParseConf(c.List, true)
		if err != nil || again.Name != c.Name || !reflect.DeepEqual(again.cni, c.cni) || again.rkt.masquerades() != c.rkt.masquerades() {
			t.Fatalf("the list of %q does not parse back: %+v, %v", data, again, err)
		}
	})
}

func TestMasquerades(t *testing.T) {
	for _, c := range []struct {
		file        string
		isList      bool
		rkt, anyway bool
	}{
		{Builtin["99-default.conf"], false, true, true},
		{Builtin["99-default-restricted.conf"], false, false, false},
		{`{"cniVersion":"1.0.0","name":"p","type":"ptp","ipMasq":true}`, false, false, true},
		{`{"cniVersion":"1.0.0","name":"l","rktMasquerade":true,"plugins":[{"type":"bridge"}]}`, true, true, true},
		{`{"cniVersion":"1.0.0","name":"l","plugins":[{"type":"bridge"},{"type":"x","rktMasquerade":true,"ipMasq":true}]}`, true, false, false},
	} {
		conf, err := ParseConf([]byte(c.file), c.isList)
		if err != nil {
			t.Fatal(err)
		}
		l, ok := conf.rkt, conf.rktOK
		if !ok || l.rktMasquerade() != c.rkt || l.masquerades() != c.anyway {
			t.Errorf("%s: rktMasquerade %v, masquerades %v", c.file, l.rktMasquerade(), l.masquerades())
		}
	}
}

func TestForwardableIndex(t *testing.T) {
	mk := func(file string) Net {
		c, err := ParseConf([]byte(file), strings.Contains(file, "plugins"))
		if err != nil {
			t.Fatal(err)
		}
		return Net{Conf: c}
	}
	restricted, def := mk(Builtin["99-default-restricted.conf"]), mk(Builtin["99-default.conf"])
	// ipMasq of another type: libcni takes the file, rkt's view does not,
	// and the network does not count as masquerading.
	odd := mk(`{"cniVersion":"1.0.0","name":"odd","type":"ptp","ipMasq":"yes","rktMasquerade":true}`)
	if odd.rktOK {
		t.Fatalf("a string ipMasq fits rkt's view: %+v", odd.rkt)
	}
	for _, c := range []struct {
		name string
		nets []Net
		want int
	}{
		{"none", nil, -1},
		{"first masquerading", []Net{restricted, def, def}, 1},
		{"none masquerades: the last", []Net{restricted, restricted}, 1},
		{"a list rkt cannot read does not masquerade", []Net{odd, restricted}, 1},
	} {
		if got := ForwardableIndex(c.nets); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestLoadConfsParsedOnce(t *testing.T) {
	local, stage1 := confDirs(t, map[string]string{"10-br.conf": bridgeConf})
	confs, err := LoadConfs(local, stage1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range confs {
		if c.cni == nil || c.cni.Name != c.Name || string(c.cni.Bytes) != string(c.List) || len(c.cni.Plugins) != 1 || !c.rktOK {
			t.Errorf("%s: parsed form %+v, rkt's view %v", c.Name, c.cni, c.rktOK)
		}
	}
}

func TestDelNeedsNetNS(t *testing.T) {
	info := func(list string) abi.Network { return abi.Network{Config: []byte(list)} }
	def := func(file string) abi.Network {
		c, err := ParseConf([]byte(Builtin[file]), false)
		if err != nil {
			t.Fatal(err)
		}
		return abi.Network{Config: c.List}
	}
	for _, c := range []struct {
		name  string
		infos []abi.Network
		want  bool
	}{
		{"built-ins", []abi.Network{def("99-default.conf"), def("99-default-restricted.conf")}, false},
		{"with portmap", []abi.Network{info(`{"plugins":[{"type":"ptp","ipam":{"type":"host-local"}},{"type":"portmap"}]}`)}, false},
		{"ptp with ipMasq", []abi.Network{def("99-default.conf"), info(`{"plugins":[{"type":"ptp","ipMasq":true,"ipam":{"type":"host-local"}}]}`)}, true},
		{"dhcp", []abi.Network{info(`{"plugins":[{"type":"bridge","ipam":{"type":"dhcp"}}]}`)}, true},
		{"unknown plugin", []abi.Network{info(`{"plugins":[{"type":"ptp","ipam":{"type":"host-local"}},{"type":"fail"}]}`)}, true},
		{"garbage", []abi.Network{info(`{`)}, true},
	} {
		if got := delNeedsNetNS(c.infos); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
