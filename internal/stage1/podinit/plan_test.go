package podinit

import (
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
)

func TestLowerDir(t *testing.T) {
	got, err := LowerDir([]string{"/l/bottom", "/l/mid/", "/l/top"})
	if err != nil || got != "/l/top:/l/mid:/l/bottom" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := LowerDir([]string{"overlay/app/lower"}); err != nil || got != "overlay/app/lower" {
		t.Errorf("pod-relative: got %q, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"../rel"}, {".."}, {"a/../../b"}, {"./a"}, {"/a:b"}, {"/a,b"}, {"/a\\b"}, {"/a\nb"}} {
		if _, err := LowerDir(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseLayers(t *testing.T) {
	if got := ParseLayers("/a\n\n/b\n"); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Fatal(got)
	}
}

func TestBuildEnv(t *testing.T) {
	env := []EnvVar{{Name: "HOME", Value: "/home/u"}, {Name: "FOO", Value: "1"}, {Name: "FOO", Value: "2"}, {Name: "AC_APP_NAME", Value: "evil"}}
	got := BuildEnv("web", env, "")
	want := []string{"HOME=/home/u", "FOO=2", "PATH=" + DefaultPath, "SHELL=/bin/sh", "USER=root", "LOGNAME=root", "AC_APP_NAME=web"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	got = BuildEnv("a", nil, "")
	if !slices.Contains(got, "HOME=/root") || got[len(got)-1] != "AC_APP_NAME=a" {
		t.Fatal(got)
	}
	// A registered pod's apps get AC_METADATA_URL, which the manifest
	// cannot point elsewhere; an unregistered pod's keep the manifest's.
	spoof := []EnvVar{{Name: "AC_METADATA_URL", Value: "http://evil"}}
	got = BuildEnv("a", spoof, "http://172.16.28.1:18112/tok")
	if slices.Contains(got, "AC_METADATA_URL=http://evil") || got[len(got)-1] != "AC_METADATA_URL=http://172.16.28.1:18112/tok" {
		t.Fatal(got)
	}
	if got = BuildEnv("a", spoof, ""); !slices.Contains(got, "AC_METADATA_URL=http://evil") {
		t.Fatal(got)
	}
}

func TestHostsFile(t *testing.T) {
	h := HostsFile("rkt-x", "")
	if !strings.HasPrefix(h, "127.0.0.1\tlocalhost") || !strings.HasSuffix(h, "127.0.0.1\trkt-x\n") || !strings.Contains(h, "::1\tlocalhost") {
		t.Fatal(h)
	}
	if h := HostsFile("rkt-x", "172.16.28.2"); !strings.HasSuffix(h, "\n172.16.28.2\trkt-x\n") || strings.Contains(h, "127.0.0.1\trkt-x") {
		t.Fatal(h)
	}
	for h, ok := range map[string]bool{"rkt-1": true, "a.b": true, "": false, "-a": false, "a b": false, "a\nb": false, strings.Repeat("a", 65): false} {
		if ValidHostname(h) != ok {
			t.Errorf("ValidHostname(%q) = %v", h, !ok)
		}
	}
}

func testManifest() (*PodManifest, *RuntimeApp) {
	ro := true
	pm := &PodManifest{ACKind: PodManifestKind, ACVersion: "0.8.11"}
	pm.Volumes = []Volume{
		{Name: "data", Kind: "host", Source: "/srv/data", ReadOnly: &ro},
		{Name: "scratch", Kind: "empty"},
	}
	pm.Apps = []RuntimeApp{{
		Name: "web",
		App: &App{
			Exec: []string{"/bin/web", "-x"}, User: "1000", Group: "100", SupplementaryGIDs: []int{5, 6},
			WorkingDirectory: "/srv",
		},
		ReadOnlyRootFS: true,
		Mounts: []Mount{
			{Volume: "scratch", Path: "/var/a/b"},
			{Volume: "data", Path: "/data"},
		},
	}}
	return pm, &pm.Apps[0]
}

func TestPlanApp(t *testing.T) {
	pm, ra := testManifest()
	cfg := Config{Hostname: "h1", Net: "host", HostResolvConf: "/etc/resolv.conf", StopTimeout: time.Second}
	p, err := PlanApp(pm, ra, []string{"/l/1", "/l/2"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rootfs != "stage2/web/rootfs" || p.OverlayData != "lowerdir=/l/2:/l/1,upperdir=overlay/web/upper,workdir=overlay/web/work" || !p.ReadOnlyRoot {
		t.Errorf("plan %+v", p)
	}
	e := p.Exec
	if e.UID != 1000 || e.GID != 100 || !slices.Equal(e.SupplementaryGIDs, []int{5, 6}) || e.WorkingDir != "/srv" || !slices.Equal(e.Argv, []string{"/bin/web", "-x"}) {
		t.Errorf("exec %+v", e)
	}
	targets := map[string]Step{}
	var order []string
	for _, s := range p.Mounts {
		targets[s.Target] = s
		order = append(order, s.Target)
	}
	for _, want := range []string{"/proc", "/sys", "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts", "/dev/shm", "/dev/ptmx", "/dev/fd", "/dev/stdin", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/data", "/var/a/b"} {
		if _, ok := targets[want]; !ok {
			t.Errorf("no step for %s", want)
		}
	}
	if slices.Index(order, "/dev") > slices.Index(order, "/dev/null") || slices.Index(order, "/data") > slices.Index(order, "/var/a/b") {
		t.Errorf("order %v", order)
	}
	if s := targets["/sys"]; s.Attrs&mount.ReadOnly == 0 {
		t.Error("/sys is not read-only")
	}
	if s := targets["/data"]; s.Source != "/srv/data" || s.Attrs&mount.ReadOnly == 0 || !s.Recursive {
		t.Errorf("/data %+v", s)
	}
	if s := targets["/var/a/b"]; s.Source != "sharedVolumes/scratch" || s.Attrs != 0 {
		t.Errorf("/var/a/b %+v", s)
	}
	if s := targets["/etc/hosts"]; !s.IfMissing || s.Source != "stage1/rkt/etc/hosts" {
		t.Errorf("/etc/hosts %+v", s)
	}
	if s := targets["/dev/ptmx"]; s.Kind != StepSymlink || s.Link != "pts/ptmx" {
		t.Errorf("/dev/ptmx %+v", s)
	}
	if len(p.Files) != 2 || p.Files[0].Content != "h1\n" || !strings.Contains(p.Files[1].Content, "h1") {
		t.Errorf("files %+v", p.Files)
	}

	cfg.HostResolvConf = ""
	if p, _ := PlanApp(pm, ra, []string{"/l/1"}, cfg); slices.ContainsFunc(p.Mounts, func(s Step) bool { return s.Target == "/etc/resolv.conf" }) {
		t.Error("resolv.conf bound without a host file")
	}
}

func TestPlanAppErrors(t *testing.T) {
	cases := map[string]func(pm *PodManifest, ra *RuntimeApp){
		"user":    func(_ *PodManifest, ra *RuntimeApp) { ra.App.User = "nobody" },
		"group":   func(_ *PodManifest, ra *RuntimeApp) { ra.App.Group = "-1" },
		"exec":    func(_ *PodManifest, ra *RuntimeApp) { ra.App.Exec = nil },
		"wd":      func(_ *PodManifest, ra *RuntimeApp) { ra.App.WorkingDirectory = "rel" },
		"volume":  func(_ *PodManifest, ra *RuntimeApp) { ra.Mounts[0].Volume = "nope" },
		"target":  func(_ *PodManifest, ra *RuntimeApp) { ra.Mounts[0].Path = "rel" },
		"kind":    func(pm *PodManifest, _ *RuntimeApp) { pm.Volumes[1].Kind = "nfs" },
		"hostsrc": func(pm *PodManifest, _ *RuntimeApp) { pm.Volumes[0].Source = "rel" },
	}
	for name, mutate := range cases {
		pm, ra := testManifest()
		mutate(pm, ra)
		if _, err := PlanApp(pm, ra, []string{"/l"}, Config{Hostname: "h"}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	pm, ra := testManifest()
	if _, err := PlanApp(pm, ra, []string{"/l:x"}, Config{Hostname: "h"}); err == nil {
		t.Error("bad layer path accepted")
	}
}

func TestSupervise(t *testing.T) {
	// No children at all: returns at once with 0.
	sigc := make(chan os.Signal)
	if got := supervise(map[int]string{}, 0, time.Second, sigc, func(string, int) {}, nil, func(string, ...any) {}); got != 0 {
		t.Fatal(got)
	}
}

// TestSuperviseTrims: a pod that runs longer than TrimDelay is trimmed
// once; one that is done sooner is not.
func TestSuperviseTrims(t *testing.T) {
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, unix.SIGCHLD)
	defer signal.Stop(sigc)
	for _, tc := range []struct {
		sleep string
		want  int
	}{{"0", 0}, {strconv.FormatFloat((TrimDelay + 300*time.Millisecond).Seconds(), 'f', 3, 64), 1}} {
		cmd := exec.CommandContext(t.Context(), "sleep", tc.sleep)
		if err := cmd.Start(); err != nil {
			t.Skip(err)
		}
		trims := 0
		code := supervise(map[int]string{cmd.Process.Pid: "a"}, 0, time.Second, sigc, func(string, int) {}, func() { trims++ }, func(string, ...any) {})
		if code != 0 || trims != tc.want {
			t.Errorf("sleep %s: exit %d, %d trims, want 0 and %d", tc.sleep, code, trims, tc.want)
		}
	}
}

func TestPlanAppDNSModes(t *testing.T) {
	pm, ra := testManifest()
	host := "h"
	hostsVol := "hostsvol"
	pm.Volumes = append(pm.Volumes, Volume{Name: hostsVol, Kind: "host", Source: "/srv/hosts"})
	ra.Mounts = append(ra.Mounts, Mount{Volume: hostsVol, Path: "/etc/hosts"})
	find := func(p AppPlan, target string) []Step {
		var out []Step
		for _, s := range p.Mounts {
			if s.Target == target {
				out = append(out, s)
			}
		}
		return out
	}
	for _, tc := range []struct {
		cfg          Config
		resolv       []string // sources bound at /etc/resolv.conf
		hosts        []string // sources bound at /etc/hosts, in order
		hostsContent string
	}{
		{Config{HostResolvConf: "/etc/resolv.conf"}, []string{"/etc/resolv.conf"}, []string{"stage1/rkt/etc/hosts", "/srv/hosts"}, ""},
		{Config{ResolvMode: "none", HostResolvConf: "/etc/resolv.conf"}, nil, []string{"stage1/rkt/etc/hosts", "/srv/hosts"}, ""},
		{Config{ResolvMode: "stage0", HostsMode: "stage0", HostsEntries: "10.0.0.1\tdb\n"}, []string{"stage1/rkt/resolv.conf"}, []string{"stage1/rkt/etc/hosts"}, "127.0.0.1\th\n10.0.0.1\tdb\n"},
		{Config{ResolvMode: "host", HostResolvConf: "/etc/resolv.conf", HostsMode: "host", HostHosts: "/etc/hosts"}, []string{"/etc/resolv.conf"}, []string{"/etc/hosts"}, ""},
	} {
		tc.cfg.Hostname = host
		p, err := PlanApp(pm, ra, []string{"/l"}, tc.cfg)
		if err != nil {
			t.Fatalf("%+v: %v", tc.cfg, err)
		}
		var rs, hs []string
		for _, s := range find(p, "/etc/resolv.conf") {
			rs = append(rs, s.Source)
		}
		for _, s := range find(p, "/etc/hosts") {
			hs = append(hs, s.Source)
			if s.Source != "/srv/hosts" && (s.IfMissing != (tc.cfg.HostsMode == "") || s.Attrs&mount.ReadOnly == 0) {
				t.Errorf("%+v: hosts step %+v", tc.cfg, s)
			}
		}
		if !slices.Equal(rs, tc.resolv) || !slices.Equal(hs, tc.hosts) {
			t.Errorf("%+v: resolv.conf from %q, hosts from %q; want %q, %q", tc.cfg, rs, hs, tc.resolv, tc.hosts)
		}
		if tc.hostsContent != "" && !strings.HasSuffix(p.Files[1].Content, tc.hostsContent) {
			t.Errorf("%+v: hosts file %q", tc.cfg, p.Files[1].Content)
		}
	}
	for _, bad := range []Config{{ResolvMode: "host"}, {HostsMode: "host"}, {ResolvMode: "bogus"}, {HostsMode: "none"}} {
		bad.Hostname = host
		if _, err := PlanApp(pm, ra, []string{"/l"}, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestPlanAppImageVolumeCopyUp(t *testing.T) {
	pm, ra := testManifest()
	mode, id := "0755", 0
	av := Volume{Name: "volume-seed", Kind: "empty", Mode: &mode, UID: &id, GID: &id}
	ra.Mounts = append(ra.Mounts, Mount{Volume: av.Name, Path: "/seed", AppVolume: &av})
	p, err := PlanApp(pm, ra, []string{"/l"}, Config{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.CopyUps, []CopyUp{{Volume: "sharedVolumes/volume-seed", Target: "/seed"}}) {
		t.Errorf("copy-ups %+v: want only the implicit volume's", p.CopyUps)
	}
	vols := podVolumes(pm)
	if len(vols) != 3 || vols[2].Name != av.Name {
		t.Errorf("podVolumes %+v", vols)
	}
}
