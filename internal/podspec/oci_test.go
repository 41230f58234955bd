package podspec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestSplitName(t *testing.T) {
	tests := []struct {
		in, repo, tag string
	}{
		{"127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox", "latest"},
		{"127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox", ""},
		{"index.docker.io/library/busybox:1.36", "index.docker.io/library/busybox", "1.36"},
		{"quay.io/a/b@sha256:" + strings.Repeat("a", 64), "quay.io/a/b", ""},
		{"localhost/img:v1", "localhost/img", "v1"},
		{"busybox", "busybox", ""},
		{"busybox:tag", "busybox", "tag"},
		{"host:5000/a/b/c", "host:5000/a/b/c", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		repo, tag := SplitName(tc.in)
		if repo != tc.repo || tag != tc.tag {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.in, repo, tag, tc.repo, tc.tag)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		proto   string
		port    uint
		wantErr string
	}{
		{in: "80/tcp", name: "80-tcp", proto: "tcp", port: 80},
		{in: "53/udp", name: "53-udp", proto: "udp", port: 53},
		{in: "8080", name: "8080-tcp", proto: "tcp", port: 8080},
		{in: "443/TCP", name: "443-tcp", proto: "tcp", port: 443},
		{in: "9/sctp", name: "9-sctp", proto: "sctp", port: 9},
		{in: "65535/udp", name: "65535-udp", proto: "udp", port: 65535},
		{in: "0/tcp", wantErr: "invalid port number"},
		{in: "65536/tcp", wantErr: "invalid port number"},
		{in: "-1/tcp", wantErr: "invalid port number"},
		{in: "+80/tcp", wantErr: "invalid port number"},
		{in: "http/tcp", wantErr: "invalid port number"},
		{in: "/tcp", wantErr: "invalid port number"},
		{in: "", wantErr: "invalid port number"},
		{in: "8000-8010/tcp", wantErr: "invalid port number"},
		{in: "80/icmp", wantErr: `unknown protocol "icmp"`},
		{in: "80/", wantErr: `unknown protocol ""`},
		{in: "80/tcp/udp", wantErr: "unknown protocol"},
	}
	for _, tc := range tests {
		p, err := parsePort(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parsePort(%q) = %+v, %v; want error containing %q", tc.in, p, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePort(%q): %v", tc.in, err)
			continue
		}
		if p.Name.String() != tc.name || p.Protocol != tc.proto || p.Port != tc.port || p.Count != 1 {
			t.Errorf("parsePort(%q) = %+v; want name %s proto %s port %d count 1", tc.in, p, tc.name, tc.proto, tc.port)
		}
	}
}

func TestMountPoint(t *testing.T) {
	tests := []struct {
		in, name, path, wantErr string
	}{
		{in: "/var/lib/data", name: "volume-var-lib-data", path: "/var/lib/data"},
		{in: "/data", name: "volume-data", path: "/data"},
		{in: "data", name: "volume-data", path: "/data"},
		{in: "/data/", name: "volume-data", path: "/data"},
		{in: "/a//b/./c", name: "volume-a-b-c", path: "/a/b/c"},
		{in: "/var/../etc", name: "volume-etc", path: "/etc"},
		{in: "../../etc", name: "volume-etc", path: "/etc"},
		{in: "/Var/Lib_Data", name: "volume-var-lib-data", path: "/Var/Lib_Data"},
		{in: "/", wantErr: "the root cannot be a volume"},
		{in: "", wantErr: "the root cannot be a volume"},
		{in: "/..", wantErr: "the root cannot be a volume"},
		{in: "/a/../..", wantErr: "the root cannot be a volume"},
	}
	for _, tc := range tests {
		mp, err := mountPoint(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("mountPoint(%q) = %+v, %v; want error containing %q", tc.in, mp, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("mountPoint(%q): %v", tc.in, err)
			continue
		}
		if mp.Name.String() != tc.name || mp.Path != tc.path {
			t.Errorf("mountPoint(%q) = %s %s; want %s %s", tc.in, mp.Name, mp.Path, tc.name, tc.path)
		}
		if !strings.HasPrefix(mp.Path, "/") || strings.Contains(mp.Path, "..") {
			t.Errorf("mountPoint(%q) path %q is not clean and absolute", tc.in, mp.Path)
		}
	}
}

func baseConfig() *v1.ConfigFile {
	return &v1.ConfigFile{
		OS:           "linux",
		Architecture: "amd64",
		Created:      v1.Time{Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{"/bin/entry", "--flag"},
			Cmd:        []string{"arg1", "arg 2"},
			User:       "1000:2000",
			WorkingDir: "/srv/app",
			Env: []string{
				"PATH=/usr/bin:/bin",
				"EMPTY=",
				"EQ=a=b=c",
				"NOEQUALS",
				"=novalue",
				"PATH=/override",
			},
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8080": {}},
			Volumes:      map[string]struct{}{"/var/lib/data": {}, "/cache": {}},
		},
	}
}

func TestImageManifestFromOCI(t *testing.T) {
	ref := ImageRef{
		Repository:     "127.0.0.1:5000/Busy_Box",
		Tag:            "1.36",
		ManifestDigest: "sha256:" + strings.Repeat("1", 64),
		ConfigDigest:   "sha256:" + strings.Repeat("2", 64),
	}
	im, err := ImageManifestFromOCI(ref, baseConfig())
	if err != nil {
		t.Fatalf("ImageManifestFromOCI: %v", err)
	}
	if got, want := im.Name.String(), "127.0.0.1_5000/busy_box"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	wantLabels := types.Labels{{Name: "version", Value: "1.36"}, {Name: "os", Value: "linux"}, {Name: "arch", Value: "amd64"}}
	if !reflect.DeepEqual(im.Labels, wantLabels) {
		t.Errorf("labels = %+v, want %+v", im.Labels, wantLabels)
	}
	app := im.App
	if app == nil {
		t.Fatal("no app")
	}
	if want := (types.Exec{"/bin/entry", "--flag", "arg1", "arg 2"}); !reflect.DeepEqual(app.Exec, want) {
		t.Errorf("exec = %q, want %q", app.Exec, want)
	}
	if app.User != "1000" || app.Group != "2000" {
		t.Errorf("user/group = %q/%q, want 1000/2000", app.User, app.Group)
	}
	if app.WorkingDirectory != "/srv/app" {
		t.Errorf("workdir = %q", app.WorkingDirectory)
	}
	wantEnv := types.Environment{
		{Name: "PATH", Value: "/override"},
		{Name: "EMPTY", Value: ""},
		{Name: "EQ", Value: "a=b=c"},
	}
	if !reflect.DeepEqual(app.Environment, wantEnv) {
		t.Errorf("env = %+v, want %+v", app.Environment, wantEnv)
	}
	var ports []string
	for _, p := range app.Ports {
		ports = append(ports, p.Name.String())
	}
	if want := []string{"53-udp", "80-tcp", "8080-tcp"}; !reflect.DeepEqual(ports, want) {
		t.Errorf("ports = %v, want %v (sorted by their OCI key)", ports, want)
	}
	var mps []string
	for _, m := range app.MountPoints {
		mps = append(mps, m.Name.String()+"="+m.Path)
	}
	if want := []string{"volume-cache=/cache", "volume-var-lib-data=/var/lib/data"}; !reflect.DeepEqual(mps, want) {
		t.Errorf("mount points = %v, want %v", mps, want)
	}
	wantAnn := map[string]string{
		AnnotationRegistryURL: "127.0.0.1:5000",
		AnnotationRepository:  "Busy_Box",
		AnnotationImageID:     ref.ConfigDigest,
		AnnotationManifest:    ref.ManifestDigest,
		AnnotationTag:         "1.36",
		AnnotationEntrypoint:  `["/bin/entry","--flag"]`,
		AnnotationCmd:         `["arg1","arg 2"]`,
		"created":             "2024-05-06T06:08:09Z",
	}
	for k, v := range wantAnn {
		got, ok := im.Annotations.Get(k)
		if !ok || got != v {
			t.Errorf("annotation %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if len(im.Annotations) != len(wantAnn) {
		t.Errorf("annotations = %+v, want exactly %d", im.Annotations, len(wantAnn))
	}
	// The manifest must be valid appc: it marshals.
	if _, err := json.Marshal(im); err != nil {
		t.Errorf("marshal image manifest: %v", err)
	}
}

func TestAppFromConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     v1.Config
		check   func(t *testing.T, app *types.App)
		wantErr string
	}{
		{
			name: "defaults",
			cfg:  v1.Config{},
			check: func(t *testing.T, app *types.App) {
				if app.User != "0" || app.Group != "0" {
					t.Errorf("user/group = %q/%q, want 0/0", app.User, app.Group)
				}
				if len(app.Exec) != 0 || app.WorkingDirectory != "" || len(app.Environment) != 0 || len(app.Ports) != 0 || len(app.MountPoints) != 0 {
					t.Errorf("app = %+v, want empty", app)
				}
			},
		},
		{
			name: "user without group",
			cfg:  v1.Config{User: "nobody"},
			check: func(t *testing.T, app *types.App) {
				if app.User != "nobody" || app.Group != "0" {
					t.Errorf("user/group = %q/%q, want nobody/0", app.User, app.Group)
				}
			},
		},
		{
			name: "user and group names",
			cfg:  v1.Config{User: "www:staff"},
			check: func(t *testing.T, app *types.App) {
				if app.User != "www" || app.Group != "staff" {
					t.Errorf("user/group = %q/%q, want www/staff", app.User, app.Group)
				}
			},
		},
		{
			name: "group with a colon keeps the rest",
			cfg:  v1.Config{User: "1:2:3"},
			check: func(t *testing.T, app *types.App) {
				if app.User != "1" || app.Group != "2:3" {
					t.Errorf("user/group = %q/%q, want 1/2:3", app.User, app.Group)
				}
			},
		},
		{
			name: "relative workdir made absolute",
			cfg:  v1.Config{WorkingDir: "srv/app/"},
			check: func(t *testing.T, app *types.App) {
				if app.WorkingDirectory != "/srv/app" {
					t.Errorf("workdir = %q, want /srv/app", app.WorkingDirectory)
				}
			},
		},
		{
			name: "workdir with dot-dot stays inside",
			cfg:  v1.Config{WorkingDir: "../../../proc/self/fd/3"},
			check: func(t *testing.T, app *types.App) {
				if app.WorkingDirectory != "/proc/self/fd/3" {
					t.Errorf("workdir = %q, want /proc/self/fd/3 (clean and absolute)", app.WorkingDirectory)
				}
			},
		},
		{
			name: "cmd only",
			cfg:  v1.Config{Cmd: []string{"sh"}},
			check: func(t *testing.T, app *types.App) {
				if !reflect.DeepEqual(app.Exec, types.Exec{"sh"}) {
					t.Errorf("exec = %q, want [sh]", app.Exec)
				}
			},
		},
		{
			name: "bad env entries skipped",
			cfg:  v1.Config{Env: []string{"", "=", "=x", "JUSTNAME", "OK=1"}},
			check: func(t *testing.T, app *types.App) {
				if want := (types.Environment{{Name: "OK", Value: "1"}}); !reflect.DeepEqual(app.Environment, want) {
					t.Errorf("env = %+v, want %+v", app.Environment, want)
				}
			},
		},
		{
			name:    "bad port fails the mapping",
			cfg:     v1.Config{ExposedPorts: map[string]struct{}{"80/tcp": {}, "99999/tcp": {}}},
			wantErr: `exposed port "99999/tcp"`,
		},
		{
			name:    "root volume fails the mapping",
			cfg:     v1.Config{Volumes: map[string]struct{}{"/": {}}},
			wantErr: "the root cannot be a volume",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := appFromConfig(RunConfigOf(tc.cfg))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("appFromConfig = %+v, %v; want error containing %q", app, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("appFromConfig: %v", err)
			}
			tc.check(t, app)
		})
	}
}

func TestImageManifestFromOCIMinimal(t *testing.T) {
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "arm64"}
	im, err := ImageManifestFromOCI(ImageRef{Repository: "localhost/app"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := im.Labels.Get("version"); ok {
		t.Errorf("version label set without a tag: %+v", im.Labels)
	}
	for _, k := range []string{AnnotationTag, AnnotationImageID, AnnotationManifest, AnnotationEntrypoint, AnnotationCmd, "created"} {
		if v, ok := im.Annotations.Get(k); ok {
			t.Errorf("annotation %s = %q set from an empty value", k, v)
		}
	}
	if v, _ := im.Annotations.Get(AnnotationRepository); v != "app" {
		t.Errorf("repository annotation = %q, want app", v)
	}
	if v, _ := im.Annotations.Get(AnnotationRegistryURL); v != "localhost" {
		t.Errorf("registry annotation = %q, want localhost", v)
	}
}

func TestImageManifestFromOCIBadName(t *testing.T) {
	for _, repo := range []string{"", "///", "!!!"} {
		if im, err := ImageManifestFromOCI(ImageRef{Repository: repo}, &v1.ConfigFile{}); err == nil {
			t.Errorf("repository %q: got %+v, want an error", repo, im.Name)
		}
	}
	_, err := ImageManifestFromOCI(ImageRef{Repository: "ok/name"}, &v1.ConfigFile{Config: v1.Config{ExposedPorts: map[string]struct{}{"x/tcp": {}}}})
	if err == nil || !strings.Contains(err.Error(), `exposed port "x/tcp"`) {
		t.Errorf("bad port: err = %v", err)
	}
}

func TestImageManifestFromOCIOddConfigStillMarshals(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         v1.Config
		user, group string
		env         []string
	}{
		{"bad env names skipped", v1.Config{Env: []string{"A B=1", "1X=2", "GOOD_1=3", "=4"}}, "0", "0", []string{"GOOD_1"}},
		{"group only", v1.Config{User: ":42"}, "0", "42", nil},
		{"user only with colon", v1.Config{User: "7:"}, "7", "0", nil},
		{"name and group", v1.Config{User: "app:staff"}, "app", "staff", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := ImageManifestFromOCI(ImageRef{Repository: "example.com/x", Tag: "1"}, &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: tc.cfg})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := json.Marshal(im); err != nil {
				t.Fatalf("manifest does not marshal: %v", err)
			}
			if im.App.User != tc.user || im.App.Group != tc.group {
				t.Errorf("user:group = %s:%s, want %s:%s", im.App.User, im.App.Group, tc.user, tc.group)
			}
			var names []string
			for _, ev := range im.App.Environment {
				names = append(names, ev.Name)
			}
			if tc.env != nil && strings.Join(names, ",") != strings.Join(tc.env, ",") {
				t.Errorf("env names = %v, want %v", names, tc.env)
			}
		})
	}
}

func TestValidEnvName(t *testing.T) {
	for name, want := range map[string]bool{
		"PATH": true, "_x": true, "a1_B2": true, "_": true,
		"": false, "1A": false, "A-B": false, "A B": false, "Ä": false, "A=B": false, "A.B": false,
	} {
		if got := validEnvName(name); got != want {
			t.Errorf("validEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}
