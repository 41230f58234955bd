package podinit

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

var configSeeds = []string{
	`{"hostname":"rkt-abc","net":"host","stopTimeout":10000000000,"hostResolvConf":"/etc/resolv.conf"}`,
	`{"hostname":"h","net":"none","interactive":true,"tty":"/dev/pts/3","stopTimeout":1,"debug":true,"resolvMode":"host","hostsMode":"stage0","hostHosts":"/etc/hosts","hostsEntries":"1.2.3.4\tx\n","podIP":"10.0.0.2","netResolvConf":"nameserver 1.1.1.1\n","disableCapabilities":true,"disablePaths":true,"disableSeccomp":true,"usernsShift":65536,"usernsSize":65536,"metadataURL":"http://127.0.0.1:18112/x"}`,
	`{"HOSTNAME":"a","StopTimeout":-5,"usernsSize":null,"extra":[1,{"a":null}]}`,
	`{"usernsShift":4294967296}`,
	`{"stopTimeout":1.5}`,
	`{"tty":5}`,
	`null`,
	`[]`,
	`{"hostname":"a"} x`,
}

// FuzzConfigJSON holds Config's JSON methods to encoding/json on the
// same struct tags (configJSON): the same bytes out, and the same
// Config in for the inputs both accept (but those with a key given
// twice).
// configJSON is Config without its JSON methods: what encoding/json
// makes of its fields and tags, which MarshalJSON and UnmarshalJSON
// reproduce.
type configJSON Config

// checkMarshal fails unless c's MarshalJSON writes what json.Marshal
// writes of its fields and tags, and returns it.
func checkMarshal(t *testing.T, c Config) []byte {
	t.Helper()
	got, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(configJSON(c))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("MarshalJSON:\n got %s\nwant %s", got, want)
	}
	return want
}

func FuzzConfigJSON(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s), "h\x00<&>\u2028\xff", "host", true, int64(3*time.Second), uint32(65536), uint32(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, str, net string, flag bool, timeout int64, shift, size uint32) {
		c := Config{Hostname: str, Net: net, Interactive: flag, TTY: str, StopTimeout: time.Duration(timeout), Debug: !flag,
			HostResolvConf: net, ResolvMode: str, HostsMode: net, HostHosts: str, HostsEntries: str, PodIP: net,
			NetResolvConf: str, DisableCapabilities: !flag, DisablePaths: flag, DisableSeccomp: flag,
			UsernsShift: shift, UsernsSize: size, MetadataURL: str}
		checkMarshal(t, c)

		// Decoded over c: keys the data does not give keep c's values.
		w := configJSON(c)
		werr := json.Unmarshal(data, &w)
		g := c
		gerr := g.UnmarshalJSON(data)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("UnmarshalJSON(%q): error %v; json.Unmarshal: %v", data, gerr, werr)
		}
		if werr == nil && g != Config(w) {
			t.Fatalf("UnmarshalJSON(%q):\n got %+v\nwant %+v", data, g, w)
		}
	})
}

// TestConfigJSON: json.Marshal and json.Unmarshal go through the
// methods, and a Config survives the round trip.
func TestConfigJSON(t *testing.T) {
	c := Config{Hostname: "rkt-x", Net: "none", StopTimeout: 5 * time.Second, Interactive: true, TTY: "/dev/pts/1", UsernsShift: 1 << 16, UsernsSize: 1 << 16, HostsEntries: "a\tb\n"}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Fatalf("round trip of %s: %+v, %v", b, back, err)
	}
	if err := json.Unmarshal([]byte("null"), &back); err != nil || back != c {
		t.Errorf("null changed the Config: %+v, %v", back, err)
	}
}

// TestConfigJSONEveryField: with every field of Config set, MarshalJSON
// writes what json.Marshal does and UnmarshalJSON reads it all back, so a
// field added to Config and not to the methods fails here.
func TestConfigJSONEveryField(t *testing.T) {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64, reflect.Int:
			f.SetInt(int64(i + 1))
		case reflect.Uint32, reflect.Uint64, reflect.Uint:
			f.SetUint(uint64(i + 1))
		default:
			t.Fatalf("Config.%s is a %s: teach this test to set it", v.Type().Field(i).Name, f.Kind())
		}
	}
	want := checkMarshal(t, c)
	var back Config
	if err := back.UnmarshalJSON(want); err != nil || back != c {
		t.Fatalf("UnmarshalJSON(%s) = %+v, %v; want %+v", want, back, err, c)
	}
}
