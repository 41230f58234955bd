package podspec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testAppcID = "sha512-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRuntimeAppFromOCI(t *testing.T) {
	acc := &Accounts{Users: ParsePasswd([]byte(testPasswd)), Groups: ParseGroup([]byte(testGroup))}
	base := v1.Config{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"}, User: "app", Env: []string{"PATH=/bin"}, WorkingDir: "/srv"}
	for _, tc := range []struct {
		name        string
		cfg         v1.Config
		opts        AppOptions
		exec        []string
		user, group string
		groups      []int
		home        string
		err         string
	}{
		{"image defaults", base, AppOptions{}, []string{"/bin/app", "--serve"}, "1000", "1001", []int{50, 10}, "/home/app", ""},
		{"args replace cmd", base, AppOptions{Args: []string{"-x"}, ArgsSet: true}, []string{"/bin/app", "-x"}, "1000", "1001", []int{50, 10}, "/home/app", ""},
		{"empty args drop cmd", base, AppOptions{ArgsSet: true}, []string{"/bin/app"}, "1000", "1001", []int{50, 10}, "/home/app", ""},
		{"exec replaces entrypoint and cmd", base, AppOptions{Exec: []string{"/bin/sh"}}, []string{"/bin/sh"}, "1000", "1001", []int{50, 10}, "/home/app", ""},
		{"user flag by uid", base, AppOptions{User: "0"}, []string{"/bin/app", "--serve"}, "0", "0", []int{10}, "/root", ""},
		{"group flag by name", base, AppOptions{Group: "staff"}, []string{"/bin/app", "--serve"}, "1000", "50", []int{50, 10}, "/home/app", ""},
		{"user:group in image", v1.Config{Cmd: []string{"x"}, User: "1000:wheel"}, AppOptions{}, []string{"x"}, "1000", "10", []int{50, 10}, "/home/app", ""},
		{"unknown uid is fine", v1.Config{Cmd: []string{"x"}, User: "4242"}, AppOptions{}, []string{"x"}, "4242", "0", nil, "", ""},
		{"explicit supplementary gids", base, AppOptions{SupplementaryGIDs: []int{7}}, []string{"/bin/app", "--serve"}, "1000", "1001", []int{7}, "/home/app", ""},
		{"unknown user name", v1.Config{Cmd: []string{"x"}, User: "ghost"}, AppOptions{}, nil, "", "", nil, "", `user "ghost"`},
		{"unknown group name", base, AppOptions{Group: "ghosts"}, nil, "", "", nil, "", `group "ghosts"`},
		{"no command", v1.Config{}, AppOptions{}, nil, "", "", nil, "", "no command"},
		{"relative workdir flag", base, AppOptions{WorkingDir: "srv"}, nil, "", "", nil, "", "not absolute"},
		{"bad env flag", base, AppOptions{Environment: []string{"NOEQUALS"}}, nil, "", "", nil, "", "NAME=VALUE"},
		{"bad name", base, AppOptions{Name: "Bad Name"}, nil, "", "", nil, "", "app name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ra, err := RuntimeAppFromOCI(ImageRef{Repository: "127.0.0.1:5000/lib/web", Tag: "v1"}, testAppcID, RunConfigOf(tc.cfg), acc, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ra.Name.String() != "web" {
				t.Errorf("name = %s, want web", ra.Name)
			}
			if !reflect.DeepEqual([]string(ra.App.Exec), tc.exec) {
				t.Errorf("exec = %q, want %q", ra.App.Exec, tc.exec)
			}
			if ra.App.User != tc.user || ra.App.Group != tc.group {
				t.Errorf("user:group = %s:%s, want %s:%s", ra.App.User, ra.App.Group, tc.user, tc.group)
			}
			if !reflect.DeepEqual(ra.App.SupplementaryGIDs, tc.groups) {
				t.Errorf("supplementary gids = %v, want %v", ra.App.SupplementaryGIDs, tc.groups)
			}
			if h, _ := ra.App.Environment.Get("HOME"); h != tc.home {
				t.Errorf("HOME = %q, want %q", h, tc.home)
			}
			if _, err := json.Marshal(ra); err != nil {
				t.Errorf("runtime app does not marshal: %v", err)
			}
		})
	}
}

func TestDefaultAppName(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000/lib/busybox":    "busybox",
		"index.docker.io/library/Redis": "redis",
		"localhost/my_app":              "my-app",
		"":                              "app",
	} {
		if got := DefaultAppName(in); got != want {
			t.Errorf("DefaultAppName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRuntimeAppFromACI(t *testing.T) {
	acc := &Accounts{Users: ParsePasswd([]byte(testPasswd)), Groups: ParseGroup([]byte(testGroup))}
	manifest := func(app string) *schema.ImageManifest {
		var im schema.ImageManifest
		raw := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/web-server","labels":[{"name":"version","value":"2"}]`
		if app != "" {
			raw += `,"app":` + app
		}
		if err := json.Unmarshal([]byte(raw+"}"), &im); err != nil {
			t.Fatal(err)
		}
		return &im
	}
	base := `{"exec":["/bin/web","--port","80"],"user":"app","group":"wheel","environment":[{"name":"A","value":"1"}],"workingDirectory":"/srv"}`
	for _, tc := range []struct {
		name        string
		app         string
		opts        AppOptions
		exec        []string
		user, group string
		err         string
	}{
		{"image's app, names resolved", base, AppOptions{}, []string{"/bin/web", "--port", "80"}, "1000", "10", ""},
		{"args replace the exec's arguments", base, AppOptions{Args: []string{"-v"}, ArgsSet: true}, []string{"/bin/web", "-v"}, "1000", "10", ""},
		{"exec replaces the command", base, AppOptions{Exec: []string{"/bin/sh"}}, []string{"/bin/sh"}, "1000", "10", ""},
		{"exec and args", base, AppOptions{Exec: []string{"/bin/sh"}, Args: []string{"-c", "x"}, ArgsSet: true}, []string{"/bin/sh", "-c", "x"}, "1000", "10", ""},
		{"user and group flags", base, AppOptions{User: "0", Group: "staff"}, []string{"/bin/web", "--port", "80"}, "0", "50", ""},
		{"no app needs --exec", "", AppOptions{}, nil, "", "", "no command"},
		{"no app with --exec runs as root", "", AppOptions{Exec: []string{"/bin/true"}}, []string{"/bin/true"}, "0", "0", ""},
		{"unknown user", `{"exec":["/x"],"user":"ghost","group":"0"}`, AppOptions{}, nil, "", "", `user "ghost"`},
		{"event handlers kept under --exec", `{"exec":["/x"],"user":"0","group":"0","eventHandlers":[{"name":"pre-start","exec":["/y"]}]}`, AppOptions{Exec: []string{"/z"}}, []string{"/z"}, "0", "0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := manifest(tc.app)
			var before []byte
			if im.App != nil {
				before, _ = json.Marshal(im.App)
			}
			ra, err := RuntimeAppFromACI(im, testAppcID, acc, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual([]string(ra.App.Exec), tc.exec) || ra.App.User != tc.user || ra.App.Group != tc.group {
				t.Errorf("exec %q user %s group %s", ra.App.Exec, ra.App.User, ra.App.Group)
			}
			if ra.Name.String() != "web-server" || ra.Image.Name.String() != "example.com/web-server" || ra.Image.ID.String() != testAppcID {
				t.Errorf("name %s image %v", ra.Name, ra.Image)
			}
			if strings.Contains(tc.app, "eventHandlers") && (len(ra.App.EventHandlers) != 1 || ra.App.EventHandlers[0].Exec[0] != "/y") {
				t.Errorf("event handlers %+v", ra.App.EventHandlers)
			}
			if v, _ := ra.Image.Labels.Get("version"); v != "2" {
				t.Errorf("labels %v", ra.Image.Labels)
			}
			if im.App != nil {
				if after, _ := json.Marshal(im.App); string(after) != string(before) {
					t.Errorf("the image manifest changed:\n%s\n%s", before, after)
				}
			}
		})
	}
}

// richConfig sets every field of an OCI image configuration that
// RuntimeAppFromOCI could read, and others it does not.
const richConfig = `{"created":"2026-11-23T19:33:57Z","architecture":"amd64","os":"linux",
"config":{"User":"app","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Env":["PATH=/bin","A=b"],
"Entrypoint":["/bin/app"],"Cmd":["--serve"],"Volumes":{"/data":{},"/cache":{}},"WorkingDir":"/srv",
"Labels":{"a":"b"},"StopSignal":"SIGINT","Healthcheck":{"Test":["CMD","true"]}},
"rootfs":{"type":"layers","diff_ids":["sha256:a00424873b4ca932cbf07fcb74224a270df019c7fb8f1c0d290b9a22be496205"]},
"history":[{"created":"2026-11-23T19:33:57Z","created_by":"x"}]}`

// TestParseRunConfig: the start path's parser gives RuntimeAppFromOCI
// what the full one does.
func TestParseRunConfig(t *testing.T) {
	acc := &Accounts{Users: ParsePasswd([]byte(testPasswd)), Groups: ParseGroup([]byte(testGroup))}
	for _, in := range []string{richConfig, `{"config":{"cmd":["/bin/sh"],"env":["X=1"]}}`, `{"config":{"Cmd":["x"]},"history":5}`} {
		full, ferr := v1.ParseConfigFile(strings.NewReader(in))
		part, err := ParseRunConfig(strings.NewReader(in))
		if ferr != nil {
			// A field the start path does not read may be malformed.
			if err != nil {
				t.Fatalf("ParseRunConfig(%s): %v", in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseRunConfig(%s): %v, v1.ParseConfigFile: nil", in, err)
		}
		ref := ImageRef{Repository: "127.0.0.1:5000/lib/web", Tag: "v1"}
		want, werr := RuntimeAppFromOCI(ref, testAppcID, RunConfigOf(full.Config), acc, AppOptions{})
		got, gerr := RuntimeAppFromOCI(ref, testAppcID, part, acc, AppOptions{})
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: %v against %v", gerr, werr)
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if string(wj) != string(gj) {
			t.Errorf("runtime app of %s:\n got %s\nwant %s", in, gj, wj)
		}
	}
}

// FuzzParseRunConfig: whatever v1.ParseConfigFile reads, ParseRunConfig
// reads too, and the fields the start path uses are the same.
func FuzzParseRunConfig(f *testing.F) {
	f.Add(richConfig)
	f.Add(`{"config":{"Cmd":null,"User":""}}`)
	f.Add(`{"config":{"Entrypoint":"x"}}`)
	f.Fuzz(func(t *testing.T, in string) {
		full, ferr := v1.ParseConfigFile(strings.NewReader(in))
		part, err := ParseRunConfig(strings.NewReader(in))
		if ferr != nil {
			return
		}
		if err != nil {
			t.Fatalf("ParseRunConfig: %v; v1.ParseConfigFile: nil", err)
		}
		if w := RunConfigOf(full.Config); !reflect.DeepEqual(part, w) {
			t.Fatalf("fields differ:\n got %+v\nwant %+v", part, w)
		}
	})
}
