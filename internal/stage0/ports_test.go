package stage0

import (
	"strconv"
	"strings"
	"testing"
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
