package ns_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

// facts parses key=value lines.
func facts(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

const inspect = `echo uid=$(id -u); echo gid=$(id -g); echo groups="$(id -G)"; echo pwd=$(pwd); echo pid=$$
echo hostname=$(hostname); echo etchostname=$(cat /etc/hostname)
echo hosts="$(grep -c "$(hostname)" /etc/hosts)"
echo nprocs=$(ls -d /proc/[0-9]* | wc -l)
for i in 3 4 5 6 7 8 9 10 11 12; do test -e /proc/$$/fd/$i && echo leak=$i; done
test -c /dev/null && test -c /dev/zero && test -c /dev/full && test -c /dev/tty && test -c /dev/urandom && test -L /dev/ptmx && test -c /dev/pts/ptmx && test -d /dev/shm && echo dev=ok
echo procfs=$(stat -f -c %T /proc); echo devfs=$(stat -f -c %T /dev); echo sysro=$(grep ' /sys ' /proc/self/mounts | grep -c ' ro,')
echo x > /dev/null && echo devnull=ok
echo env_FOO=$FOO; echo env_PATH=$PATH; echo env_HOME=$HOME; echo env_AC_APP_NAME=$AC_APP_NAME; echo env_SHELL=$SHELL; echo env_USER=$USER
`

func TestRunInsideApp(t *testing.T) {
	before := readFile(t, "/proc/self/mountinfo")
	app := testApp{name: "inspect", exec: []string{"/bin/sh", "-c", inspect}, user: "1000", group: "1001", wd: "/tmp", env: map[string]string{"FOO": "bar"}}
	pod := makePod(t, []testApp{app}, nil)
	r := runPod(t, pod)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
	}
	f := facts(r.stdout)
	want := map[string]string{
		"uid": "1000", "gid": "1001", "groups": "1001", "pwd": "/tmp",
		"hostname": "rkt-" + testUUID, "etchostname": "rkt-" + testUUID, "hosts": "1",
		"dev": "ok", "devnull": "ok", "procfs": "proc", "devfs": "tmpfs", "sysro": "1",
		"env_FOO": "bar", "env_PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"env_HOME": "/root", "env_AC_APP_NAME": "inspect", "env_SHELL": "/bin/sh", "env_USER": "root",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	// pod init and the app (and the shell's children) only: no host process.
	// Pod init is PID 1; its threads take the next few PIDs.
	if pid := atoi(f["pid"]); pid < 2 || pid > 30 {
		t.Errorf("the app is PID %s in its PID namespace", f["pid"])
	}
	if f["leak"] != "" {
		t.Errorf("fd %s leaked into the app", f["leak"])
	}
	if n := atoi(f["nprocs"]); n < 2 || n > 5 {
		t.Errorf("the app sees %d processes; stdout %s", n, r.stdout)
	}
	var spec podinit.EnterSpec
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(pod, podinit.EnterDir, "inspect"))), &spec); err != nil {
		t.Fatal(err)
	}
	if e := spec.Exec; !slices.Contains(e.Env, "AC_APP_NAME=inspect") || !slices.Contains(e.Env, "FOO=bar") || e.App != "inspect" {
		t.Errorf("enter spec %+v", e)
	}
	// Only what an entered command takes from its app.
	if e := spec.Exec; e.Argv != nil || e.Rootfs != "" || e.WorkingDir != "" || e.Interactive {
		t.Errorf("enter spec has the app's own command, root or terminal: %+v", e)
	}
	if after := readFile(t, "/proc/self/mountinfo"); after != before {
		t.Errorf("host mounts changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Lstat(filepath.Join(pod, abi.SupervisorStatus)); err != nil {
		t.Error(err)
	}
}

func TestRunHostnameAndNetNone(t *testing.T) {
	pod := makePod(t, []testApp{shApp("app", "echo hostname=$(hostname); echo nets=$(ls /sys/class/net | tr '\\n' ' ')")}, nil)
	r := runPod(t, pod, "--net=none", "--hostname=custom-host")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
	}
	f := facts(r.stdout)
	if f["hostname"] != "custom-host" || f["nets"] != "lo" {
		t.Errorf("facts %v", f)
	}
}

func TestRunBadOptions(t *testing.T) {
	pod := makePod(t, []testApp{shApp("app", "exit 0")}, nil)
	for _, c := range []struct{ net, err string }{
		{"nosuch", "stage1: failed to setup network: networks not found: nosuch"},
		{"host:IP=1.2.3.4", `the "host" network takes no arguments`},
		{"host,none", "host and none cannot be combined"},
		{"default,default", `network "default" given more than once`},
	} {
		r := runPod(t, pod, "--net="+c.net)
		if r.code != 254 || !strings.Contains(r.stderr, c.err) {
			t.Errorf("--net=%s: exit %d, stderr %q, want %q", c.net, r.code, r.stderr, c.err)
		}
	}
	for _, bad := range []string{"0:65536", "65536", "65536:0", "65536:65537", "x:1", "4294967295:2"} {
		r := runPod(t, pod, "--net=host", "--private-users="+bad)
		if r.code != 254 || !strings.Contains(r.stderr, "want SHIFT:COUNT") {
			t.Errorf("--private-users=%s: exit %d, stderr %q", bad, r.code, r.stderr)
		}
	}
}

// TestRunPrivateUsers: with a user namespace the app is started by the
// helper re-executed from the stage1 binary inside the app's root.
func TestRunPrivateUsers(t *testing.T) {
	pod := makePod(t, []testApp{shApp("app", "echo uid=$(id -u); echo map=$(cat /proc/self/uid_map | tr -s ' ' | tr ' ' :)")}, nil)
	r := runPod(t, pod, "--net=host", "--private-users=131072:65536")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
	}
	f := facts(r.stdout)
	if f["uid"] != "0" || f["map"] != ":0:131072:65536" {
		t.Errorf("facts %v, want uid 0 mapped from 131072 (65536 IDs)", f)
	}
}

func TestRunExecFailure(t *testing.T) {
	pod := makePod(t, []testApp{{name: "app", exec: []string{"/bin/nope"}}}, nil)
	r := runPod(t, pod)
	if r.code != 127 || !strings.Contains(r.stderr, `Error: Unable to open "/bin/nope": No such file or directory`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if got := readFile(t, filepath.Join(pod, abi.StatusDir, "app")); got != "127" {
		t.Errorf("status %q", got)
	}
	// A relative exec is looked up in PATH inside the rootfs.
	pod = makePod(t, []testApp{{name: "app", exec: []string{"echo", "found"}}}, nil)
	if r := runPod(t, pod); r.code != 0 || r.stdout != "found\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestRunReadOnlyRootFS(t *testing.T) {
	app := shApp("app", "touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y 2>/dev/null && echo tmp-rw || echo tmp-ro")
	app.ro = true
	pod := makePod(t, []testApp{app}, nil)
	r := runPod(t, pod)
	if r.code != 0 || r.stdout != "ro\ntmp-ro\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func boolp(b bool) *bool { return &b }

func TestRunVolumes(t *testing.T) {
	rw := t.TempDir()
	ro := t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("ro-content"), 0o644); err != nil {
		t.Fatal(err)
	}
	escape := t.TempDir() // an absolute host path an image symlink points at
	mode := "0770"
	uid, gid := 0, 0
	vols := []podinit.Volume{
		{Name: "rw", Kind: "host", Source: rw},
		{Name: "ro", Kind: "host", Source: ro, ReadOnly: boolp(true)},
		{Name: "shared", Kind: "empty", Mode: &mode, UID: &uid, GID: &gid},
	}
	writer := shApp("writer", `echo hi > /rw/out; cat /ro/f; echo; echo x > /ro/g 2>/dev/null && echo ro-writable || echo ro-ok
echo shared > /shared/.tmp && mv /shared/.tmp /shared/file; ls /escape/vol/f >/dev/null && echo escape-inside`)
	writer.mounts = []podinit.Mount{
		{Volume: "rw", Path: "/rw"},
		{Volume: "ro", Path: "/ro"},
		{Volume: "shared", Path: "/shared"},
		{Volume: "ro", Path: "/escape/vol"},
	}
	writer.top = map[string]string{"escape": "->" + escape}
	reader := shApp("reader", `for i in $(seq 50); do test -f /data/file && break; sleep 0.1; done; echo reader=$(cat /data/file)`)
	reader.mounts = []podinit.Mount{{Volume: "shared", Path: "/data"}}
	pod := makePod(t, []testApp{writer, reader}, vols)
	r := runPod(t, pod)
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"ro-content\n", "ro-ok\n", "reader=shared\n", "escape-inside\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q lacks %q", r.stdout, want)
		}
	}
	if got := readFile(t, filepath.Join(rw, "out")); got != "hi\n" {
		t.Errorf("rw volume: %q", got)
	}
	if entries, _ := os.ReadDir(escape); len(entries) != 0 {
		t.Errorf("a mount target through an image symlink reached the host: %v", entries)
	}
	st, err := os.Stat(filepath.Join(pod, "sharedVolumes", "shared"))
	if err != nil || st.Mode().Perm() != 0o770 {
		t.Errorf("shared volume dir: %v %v", st, err)
	}
}

func waitReady(t *testing.T, pod string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Lstat(filepath.Join(pod, abi.SupervisorStatus)); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("pod never became ready")
}

func TestRunSIGTERM(t *testing.T) {
	pod := makePod(t, []testApp{shApp("app", "exec sleep 1000")}, nil)
	cmd, o, e := startPod(t, pod)
	waitReady(t, pod)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := waitPod(t, cmd, o, e)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v", d)
	}
	if r.code != 0 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if got := readFile(t, filepath.Join(pod, abi.StatusDir, "app")); got != "143" {
		t.Errorf("status %q", got)
	}
}

func TestRunSIGTERMIgnored(t *testing.T) {
	v := t.TempDir()
	app := shApp("app", "trap '' TERM; touch /v/ready; sleep 1000")
	app.mounts = []podinit.Mount{{Volume: "v", Path: "/v"}}
	pod := makePod(t, []testApp{app}, []podinit.Volume{{Name: "v", Kind: "host", Source: v}})
	cmd, o, e := startPod(t, pod)
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(filepath.Join(v, "ready")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	r := waitPod(t, cmd, o, e)
	if d := time.Since(start); d < 1500*time.Millisecond || d > 5*time.Second {
		t.Errorf("stop took %v, want about the 2s timeout; exit %d, stderr %q", d, r.code, r.stderr)
	}
}

func TestEnterAndStop(t *testing.T) {
	bin := stage1Binary(t)
	pod := makePod(t, []testApp{shApp("app", "exec sleep 1000")}, nil)
	cmd, o, e := startPod(t, pod)
	waitReady(t, pod)
	pid := strings.TrimSpace(readFile(t, filepath.Join(pod, abi.PID)))
	enterApp := func(app string, args ...string) (string, int) {
		c := exec.CommandContext(t.Context(), bin, append([]string{"enter", "--pid=" + pid, "--appname=" + app, "--"}, args...)...)
		c.Dir = pod
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("enter %v: %v: %s", args, err, out)
		}
		return string(out), 0
	}
	enter := func(args ...string) string {
		out, code := enterApp("app", args...)
		if code != 0 {
			t.Fatalf("enter %v: exit %d: %s", args, code, out)
		}
		return out
	}
	for _, c := range []struct {
		name, app string
		cmd       []string
		code      int
		stderr    string
	}{
		{"command found nowhere in PATH", "app", []string{"no-such-command"}, podinit.ExitExecFailed, `Error: Unable to open "no-such-command": no such file or directory`},
		{"app name is not an ACName", "App", []string{"true"}, 254, `invalid app name: "App"`},
		{"app name is a path", "../app", []string{"true"}, 254, `invalid app name: "../app"`},
	} {
		if out, code := enterApp(c.app, c.cmd...); code != c.code || !strings.Contains(out, c.stderr) {
			t.Errorf("%s: exit %d, output %q; want %d, %q", c.name, code, out, c.code, c.stderr)
		}
	}
	if got := enter("cat", "/etc/hostname"); got != "rkt-"+testUUID+"\n" {
		t.Errorf("enter cat /etc/hostname: %q", got)
	}
	if got := enter("/bin/sh", "-c", "echo $AC_APP_NAME; for i in 3 4 5 6 7 8 9; do test -e /proc/$$/fd/$i && echo leak=$i; done; set -- /proc/[0-9]*; echo $#"); got != "app\n3\n" {
		t.Errorf("enter env/fds/procs: %q", got)
	}
	stop := exec.CommandContext(t.Context(), bin, "stop", testUUID)
	stop.Dir = pod
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stop: %v: %s", err, out)
	}
	done := make(chan result, 1)
	go func() { done <- waitPod(t, cmd, o, e) }()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("stop did not stop the pod")
	}
	gc := exec.CommandContext(t.Context(), bin, "gc", testUUID)
	if out, err := gc.CombinedOutput(); err != nil {
		t.Errorf("gc: %v: %s", err, out)
	}
}
