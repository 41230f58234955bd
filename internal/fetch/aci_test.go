package fetch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/internal/discovery"
)

func TestMaxAge(t *testing.T) {
	for cc, want := range map[string]time.Duration{
		"":                          0,
		"max-age=60":                time.Minute,
		"public, Max-Age=3600":      time.Hour,
		"max-age=60, no-cache":      0,
		"no-store":                  0,
		"max-age=-5":                0,
		"max-age=x":                 0,
		"max-age=99999999999999999": 0,
	} {
		if got := maxAge(cc); got != want {
			t.Errorf("%q: %v, want %v", cc, got, want)
		}
	}
}

func TestCheckLabels(t *testing.T) {
	var m schema.ImageManifest
	if err := json.Unmarshal([]byte(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","labels":[{"name":"version","value":"1.2.0"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}`), &m); err != nil {
		t.Fatal(err)
	}
	for in, wantErr := range map[string]string{
		"example.com/app":              "",
		"example.com/app:1.2.0":        "",
		"example.com/app:2.0":          `requested value for label "version": "2.0" differs from fetched aci label value: "1.2.0"`,
		"example.com/app,channel=beta": `label "channel": "beta" differs from fetched aci label value: ""`,
		"example.com/other":            `named "example.com/app", not "example.com/other"`,
	} {
		a, err := discovery.ParseApp(in)
		if err != nil {
			t.Fatal(err)
		}
		err = checkLabels(&m, &a)
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v, want %q", in, err, wantErr)
		}
	}
}
