package stage0

import (
	"strconv"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/errdefs"
)

func TestParsePorts(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string // name/hostIP/hostPort, space-separated
		err  string
	}{
		{in: []string{"80-tcp:8080"}, want: "80-tcp/<nil>/8080"},
		{in: []string{"http:127.0.0.1:8080", "dns:[::1]:53"}, want: "http/127.0.0.1/8080 dns/::1/53"},
		{in: []string{"http:127.0.0.1:8080", "other:127.0.0.1:8080"}, err: "forwarded twice"},
		{in: []string{"http"}, err: "no host port"},
		{in: []string{"http:0"}, err: "1 to 65535"},
		{in: []string{"http:65536"}, err: "1 to 65535"},
		{in: []string{"http:x:80"}, err: "not an IP address"},
		{in: []string{"Bad_Name:80"}, err: "not an appc name"},
	} {
		got, err := ParsePorts(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		var parts []string
		for _, p := range got {
			parts = append(parts, p.Name.String()+"/"+p.HostIP.String()+"/"+strconv.FormatUint(uint64(p.HostPort), 10))
		}
		if err != nil || strings.Join(parts, " ") != c.want {
			t.Errorf("%q: %v, %v; want %s", c.in, parts, err, c.want)
		}
	}
}

func TestCheckPorts(t *testing.T) {
	app := func(name string, ports ...string) schema.RuntimeApp {
		ra := schema.RuntimeApp{Name: types.ACName(name)}
		if ports != nil {
			ra.App = &types.App{}
			for _, p := range ports {
				ra.App.Ports = append(ra.App.Ports, types.Port{Name: types.ACName(p), Protocol: "tcp", Port: 80})
			}
		}
		return ra
	}
	fwd := func(name string) types.ExposedPort {
		return types.ExposedPort{Name: types.ACName(name), HostPort: 8080}
	}
	for _, c := range []struct {
		name  string
		apps  schema.AppList
		ports []types.ExposedPort
		err   string
	}{
		{name: "no forwards", apps: schema.AppList{app("a")}},
		{name: "an app's port", apps: schema.AppList{app("a"), app("b", "dns", "http")}, ports: []types.ExposedPort{fwd("http"), fwd("dns")}},
		{name: "a pod port of its own", ports: []types.ExposedPort{{Name: "x", HostPort: 1, PodPort: &types.Port{Name: "x", Protocol: "tcp", Port: 2}}}},
		{name: "no such port", apps: schema.AppList{app("a"), app("b", "http")}, ports: []types.ExposedPort{fwd("http"), fwd("ssh")}, err: "--port ssh: no app of the pod has a port of that name"},
		{name: "no apps", ports: []types.ExposedPort{fwd("http")}, err: "--port http: no app"},
	} {
		err := checkPorts(&schema.PodManifest{Apps: c.apps, Ports: c.ports})
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
		if err != nil && !errdefs.Is(err, errdefs.KindInvalidArgument) {
			t.Errorf("%s: %v is not an invalid argument", c.name, err)
		}
	}
}
