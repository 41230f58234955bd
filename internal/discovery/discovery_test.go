package discovery

import (
	"context"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/image"
)

func TestParseApp(t *testing.T) {
	for _, c := range []struct {
		in   string
		name string
		lbl  map[string]string
		err  string
	}{
		{in: "example.com/app", name: "example.com/app", lbl: map[string]string{"version": "latest", "os": "linux", "arch": image.AppcArch(runtime.GOARCH)}},
		{in: "example.com/app:v1.0", name: "example.com/app", lbl: map[string]string{"version": "v1.0", "os": "linux", "arch": image.AppcArch(runtime.GOARCH)}},
		{in: "example.com/app,version=v2,os=linux,arch=aarch64,channel=beta", name: "example.com/app", lbl: map[string]string{"version": "v2", "os": "linux", "arch": "aarch64", "channel": "beta"}},
		{in: "example.com/app:v1,channel=beta", name: "example.com/app", lbl: map[string]string{"version": "v1", "os": "linux", "arch": image.AppcArch(runtime.GOARCH), "channel": "beta"}},
		{in: "Example.com/app", err: "image name"},
		{in: "example.com/app:", err: "empty version"},
		{in: "example.com/app,x", err: "not NAME=VALUE"},
		{in: "example.com/app,name=x", err: "bad label name"},
		{in: "example.com/app,a=1,a=2", err: "given twice"},
	} {
		a, err := ParseApp(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || a.Name != c.name || !reflect.DeepEqual(a.Labels, c.lbl) {
			t.Errorf("%q: %+v, %v", c.in, a, err)
		}
	}
}

const page1 = `<html><head>
<meta name="ac-discovery" content="example.com https://example.com/{name}-{version}-{os}-{arch}.{ext}">
<meta name="ac-discovery" content="example.com/app https://cdn.example.com/{name}/{channel}.{ext}">
<meta name="ac-discovery" content="other.com https://other.com/{name}.{ext}">
<meta name="ac-discovery" content="example.com file:///etc/{name}.{ext}">
<meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg">
<meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg">
<meta name="description" content="example.com not-ours">
</head></html>`

func TestResolve(t *testing.T) {
	a, _ := ParseApp("example.com/app:1.0")
	res := resolve(a, ParseMeta(strings.NewReader(page1)))
	want := []Endpoint{{
		ACI: "https://example.com/example.com/app-1.0-linux-" + image.AppcArch(runtime.GOARCH) + ".aci",
		ASC: "https://example.com/example.com/app-1.0-linux-" + image.AppcArch(runtime.GOARCH) + ".aci.asc",
	}} // {channel} is not a label: that template is skipped; file:// too
	if !reflect.DeepEqual(res.Endpoints, want) || !reflect.DeepEqual(res.PublicKeys, []string{"https://example.com/pubkeys.gpg"}) {
		t.Errorf("%+v", res)
	}
	a.Labels["channel"] = "beta"
	if res := resolve(a, ParseMeta(strings.NewReader(page1))); len(res.Endpoints) != 2 || res.Endpoints[1].ACI != "https://cdn.example.com/example.com/app/beta.aci" {
		t.Errorf("with channel: %+v", res)
	}
}

func TestDiscoverWalk(t *testing.T) {
	var asked []string
	pages := map[string]string{
		"http://example.com?ac-discovery=1": page1,
	}
	get := func(_ context.Context, url string) (io.ReadCloser, error) {
		asked = append(asked, url)
		if p, ok := pages[url]; ok {
			return io.NopCloser(strings.NewReader(p)), nil
		}
		return nil, errors.New("404")
	}
	a, _ := ParseApp("example.com/app/sub:1.0")
	wantEndpoints := func(r Result) bool { return len(r.Endpoints) > 0 }
	if _, err := Discover(context.Background(), get, a, false, wantEndpoints); err == nil || !strings.Contains(err.Error(), "example.com/app/sub: 404") {
		t.Errorf("https only: %v", err)
	}
	asked = nil
	res, err := Discover(context.Background(), get, a, true, wantEndpoints)
	if err != nil || len(res.Endpoints) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if want := []string{
		"https://example.com/app/sub?ac-discovery=1", "http://example.com/app/sub?ac-discovery=1",
		"https://example.com/app?ac-discovery=1", "http://example.com/app?ac-discovery=1",
		"https://example.com?ac-discovery=1", "http://example.com?ac-discovery=1",
	}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked %q", asked)
	}
}

func FuzzParseMeta(f *testing.F) {
	f.Add(page1)
	f.Add(`<meta name="ac-discovery" content="a b c">`)
	f.Fuzz(func(t *testing.T, page string) {
		a, _ := ParseApp("example.com/app")
		for _, e := range resolve(a, ParseMeta(strings.NewReader(page))).Endpoints {
			if !strings.HasPrefix(e.ACI, "http") || strings.Contains(e.ACI, "{") {
				t.Fatalf("bad endpoint %q", e.ACI)
			}
		}
	})
}

func FuzzParseApp(f *testing.F) {
	for _, s := range []string{"example.com/app:v1,os=linux", "a", "a:b:c", "a,=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseApp(s)
		if err == nil && (a.Name == "" || a.Labels["version"] == "" || a.Labels["os"] == "") {
			t.Fatalf("%q: %+v", s, a)
		}
	})
}
