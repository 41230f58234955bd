package ns

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

func TestPodConfig(t *testing.T) {
	cases := []struct {
		name  string
		args  abi.RunArgs
		env   map[string]string
		check func(t *testing.T, p RunPlan)
		err   string
	}{
		{name: "host", args: abi.RunArgs{Net: "host", UUID: "u"}, check: func(t *testing.T, p RunPlan) {
			cfg, flags := p.Config, p.CloneFlags
			if cfg.Hostname != "rkt-u" || cfg.Net != "host" || flags&unix.CLONE_NEWNS == 0 || flags&unix.CLONE_NEWNET != 0 || flags&unix.CLONE_NEWIPC == 0 || p.Nets != nil {
				t.Errorf("%+v %#x", cfg, flags)
			}
		}},
		{name: "none", args: abi.RunArgs{Net: "none", UUID: "u", IPC: "parent", Hostname: "h"}, check: func(t *testing.T, p RunPlan) {
			cfg, flags := p.Config, p.CloneFlags
			if cfg.Net != "none" || cfg.Hostname != "h" || flags&unix.CLONE_NEWNET == 0 || flags&unix.CLONE_NEWIPC != 0 || p.Nets != nil {
				t.Errorf("%+v", cfg)
			}
		}},
		{name: "insecure and userns", args: abi.RunArgs{Net: "host", UUID: "u", DisableCapabilities: true, DisablePaths: true, DisableSeccomp: true, PrivateUsers: "65536:65536"}, check: func(t *testing.T, p RunPlan) {
			cfg := p.Config
			if !cfg.DisableCapabilities || !cfg.DisablePaths || !cfg.DisableSeccomp || cfg.UsernsShift != 65536 || cfg.UsernsSize != 65536 {
				t.Errorf("%+v", cfg)
			}
		}},
		{name: "default net", args: abi.RunArgs{UUID: "u"}, check: func(t *testing.T, p RunPlan) {
			cfg, flags := p.Config, p.CloneFlags
			if cfg.Net != podinit.NetCNI || flags&unix.CLONE_NEWNET != 0 || !reflect.DeepEqual(p.Nets, []abi.NetRequest{{Name: "default"}}) || p.MDS != nil {
				t.Errorf("%+v %#x %+v %+v", cfg, flags, p.Nets, p.MDS)
			}
		}},
		{name: "bad net", args: abi.RunArgs{Net: "host:a=b", UUID: "u"}, err: "takes no arguments"},
		{name: "bad ipc", args: abi.RunArgs{Net: "host", UUID: "u", IPC: "x"}, err: "invalid --ipc"},
		{name: "bad hostname", args: abi.RunArgs{Net: "host", UUID: "u", Hostname: "a b"}, err: "invalid hostname"},
		{name: "bad userns", args: abi.RunArgs{Net: "host", UUID: "u", PrivateUsers: "1"}, err: "SHIFT:COUNT"},
		{name: "bad dns mode", args: abi.RunArgs{Net: "host", UUID: "u", DNSConfMode: "resolv=x"}, err: "resolv"},
		{name: "mds on the host network", args: abi.RunArgs{Net: "host", UUID: "u", MDSToken: "0123456789abcdef0123456789abcdef"}, check: func(t *testing.T, p RunPlan) {
			cfg := p.Config
			if cfg.MetadataURL != "http://127.0.0.1:18112/0123456789abcdef0123456789abcdef" {
				t.Errorf("AC_METADATA_URL %q", cfg.MetadataURL)
			}
		}},
		{name: "mds on CNI waits for the networks", args: abi.RunArgs{Net: "default,br:IP=10.0.0.2", UUID: "u", MDSToken: "0123456789abcdef0123456789abcdef"}, env: map[string]string{abi.EnvMDSPort: "40001"}, check: func(t *testing.T, p RunPlan) {
			if p.Config.MetadataURL != "" {
				t.Errorf("AC_METADATA_URL %q before the networks", p.Config.MetadataURL)
			}
			if p.MDS == nil || *p.MDS != (abi.MDSEndpoint{Token: "0123456789abcdef0123456789abcdef", Port: 40001}) {
				t.Errorf("metadata service %+v", p.MDS)
			}
			if want := []abi.NetRequest{{Name: "default"}, {Name: "br", Args: "IP=10.0.0.2"}}; !reflect.DeepEqual(p.Nets, want) {
				t.Errorf("networks %+v, want %+v", p.Nets, want)
			}
		}},
		{name: "bad mds token on CNI", args: abi.RunArgs{UUID: "u", MDSToken: "a/../b"}, err: "not a metadata service token"},
		{name: "bad mds port on CNI", args: abi.RunArgs{UUID: "u", MDSToken: "0123456789abcdef0123456789abcdef"}, env: map[string]string{abi.EnvMDSPort: "0"}, err: "is not a port"},
		{name: "bad mds port on the host network", args: abi.RunArgs{Net: "host", UUID: "u", MDSToken: "0123456789abcdef0123456789abcdef"}, env: map[string]string{abi.EnvMDSPort: "x"}, err: "is not a port"},
		{name: "bad stop timeout", args: abi.RunArgs{Net: "host", UUID: "u"}, env: map[string]string{podinit.EnvStopTimeout: "soon"}, err: "not a positive duration"},
		{name: "no mds", args: abi.RunArgs{Net: "host", UUID: "u"}, check: func(t *testing.T, p RunPlan) {
			cfg := p.Config
			if cfg.MetadataURL != "" {
				t.Errorf("AC_METADATA_URL %q without --mds-token", cfg.MetadataURL)
			}
		}},
		{name: "mds with net none", args: abi.RunArgs{Net: "none", UUID: "u", MDSToken: "0123456789abcdef0123456789abcdef"}, err: "cannot be reached from a pod with --net=none"},
		{name: "bad mds token", args: abi.RunArgs{Net: "host", UUID: "u", MDSToken: "a/../b"}, err: "not a metadata service token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := PodConfig(c.args, func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, p)
		})
	}
}

func TestSmallHelpers(t *testing.T) {
	if got := string(trimSpace([]byte("12 \n\n"))); got != "12" {
		t.Errorf("trimSpace %q", got)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "pid")
	if _, err := readPID(p); err == nil {
		t.Error("missing pid file accepted")
	}
	for content, ok := range map[string]bool{"42\n": true, "0": false, "x": false} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readPID(p); (err == nil) != ok {
			t.Errorf("readPID(%q): %v", content, err)
		}
	}
	if err := podinit.WriteAtomic(filepath.Join(dir, "f"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	enterSpec := func(e podinit.ExecSpec) podinit.EnterSpec {
		return podinit.EnterSpec{HelperSpec: podinit.HelperSpec{Exec: e}}
	}
	for _, e := range []podinit.ExecSpec{{UID: -1}, {GID: 1 << 31}, {SupplementaryGIDs: []int{-5}}} {
		if _, err := credential(enterSpec(e)); err == nil {
			t.Errorf("credential(%+v) accepted", e)
		}
	}
	c, err := credential(enterSpec(podinit.ExecSpec{UID: 1, GID: 2, SupplementaryGIDs: []int{3}}))
	if err != nil || c.Uid != 1 || c.Gid != 2 || len(c.Groups) != 1 {
		t.Errorf("credential: %+v %v", c, err)
	}
	for _, v := range []string{"65536:65536", "131072:1"} {
		if _, _, err := parsePrivateUsers(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// TestPodConfigNamespaces: the namespaces the run entrypoint wants for a
// pod are those stage0 starts an early pod init in (abi.PodNamespaces);
// were they not, every pod init stage0 starts would be killed and started
// again.
func TestPodConfigNamespaces(t *testing.T) {
	for _, net := range []string{"host", "none", "default", "default-restricted"} {
		for _, ipc := range []string{"", "auto", "private", "parent"} {
			plan, err := PodConfig(abi.RunArgs{Net: net, IPC: ipc, UUID: "u"}, func(string) string { return "" })
			if err != nil {
				t.Fatalf("PodConfig(--net=%s --ipc=%s): %v", net, ipc, err)
			}
			flags, ok := abi.PodNamespaces(net, ipc)
			if ok != (plan.Nets == nil) {
				t.Errorf("--net=%s --ipc=%s: early pod init %v, CNI networks %v", net, ipc, ok, plan.Nets)
			}
			if ok && flags != plan.CloneFlags {
				t.Errorf("--net=%s --ipc=%s: early pod init in %#x, the run entrypoint wants %#x", net, ipc, flags, plan.CloneFlags)
			}
		}
	}
}

// TestStage0PodInit: the run entrypoint takes a pod init of stage0's only
// when it is its child, born in the pod's namespaces; one in others is
// killed and its end closed; a value that is not stage0's (garbage, or a
// PID that is not a child) leaves what it names alone.
func TestStage0PodInit(t *testing.T) {
	const flags = unix.CLONE_NEWNS | unix.CLONE_NEWPID
	ends := func() (int, int) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		return p[0], p[1]
	}
	open := func(fd int) bool { _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); return err == nil }
	child := func() int {
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
		if err != nil {
			t.Skipf("no /bin/sleep to stand for pod init: %v", err)
		}
		pid := p.Pid
		t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL); _, _ = unix.Wait4(pid, nil, 0, nil) })
		return pid
	}
	quiet := func(string, ...any) {}

	// ends returns the two ends of a pipe: the write end stands for the
	// run entrypoint's end of pod init's configuration pipe.
	r, w := ends()
	_ = unix.Close(r)
	if _, ok := stage0PodInit(abi.PodInit{PID: 1, ConfigFD: w, CloneFlags: flags}.String(), flags, "", quiet); ok || !open(w) {
		t.Errorf("PID 1, not a child: taken %v, end open %v; want not taken, end left open", ok, open(w))
	}
	_ = unix.Close(w)
	if _, ok := stage0PodInit("1,2", flags, "", quiet); ok {
		t.Error("a value that does not parse was taken")
	}
	pid := child()
	r, w = ends() // w is closed by the abandon below
	_ = unix.Close(r)
	e := abi.PodInit{PID: pid, ConfigFD: w, CloneFlags: flags}
	if got, ok := stage0PodInit(e.String(), flags, "", quiet); !ok || got != e {
		t.Errorf("a child in the pod's namespaces: got %+v, %v; want %+v", got, ok, e)
	}
	if _, ok := stage0PodInit(e.String(), flags|unix.CLONE_NEWNET, "", quiet); ok || open(w) {
		t.Errorf("a child in other namespaces: taken %v, end open %v; want it abandoned", ok, open(w))
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("the abandoned child %d is still there (kill 0: %v)", pid, err)
	}
}
