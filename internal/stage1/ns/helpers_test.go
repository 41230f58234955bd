package ns_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/podinit"
)

const testUUID = "0b2e6b4c-1a2b-4c3d-8e9f-0123456789ab"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

// stage1Binary builds cmd/stage1-ns once per test binary.
func stage1Binary(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, mounts)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (Debian's busybox-static)")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "stage1-ns-bin")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "stage1-ns")
		// Static, as make builds it: a helper exec'd inside an app's
		// root (--private-users) finds no dynamic loader there.
		cmd := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-o", binPath, "github.com/rkt/rkt/cmd/stage1-ns")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building stage1-ns: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var busyboxApplets = []string{"sh", "true", "false", "echo", "cat", "ls", "sleep", "env", "id", "ps", "mkdir",
	"hostname", "pwd", "test", "readlink", "grep", "wc", "stat", "touch", "kill", "mount", "tr", "sort", "head"}

// makeLayer renders a busybox layer tree.
func makeLayer(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "tmp", "root", "proc", "sys", "dev", "home/user"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

type testApp struct {
	name   string
	exec   []string
	user   string
	group  string
	env    map[string]string
	wd     string
	mounts []podinit.Mount
	ro     bool
	// extra files in a second layer on top: path -> content ("->X": symlink to X)
	top map[string]string
}

// makePod builds a pod directory by hand, as stage0 would.
func makePod(t testing.TB, apps []testApp, vols []podinit.Volume) string {
	t.Helper()
	base := t.TempDir()
	layer := filepath.Join(base, "layers", "busybox")
	makeLayer(t, layer)
	pod := filepath.Join(base, "pod")
	pm := &podinit.PodManifest{ACVersion: "0.8.11", ACKind: podinit.PodManifestKind, Volumes: vols}
	for i, a := range apps {
		layers := []string{layer}
		if len(a.top) > 0 {
			top := filepath.Join(base, "layers", "top"+strconv.Itoa(i))
			for p, c := range a.top {
				full := filepath.Join(top, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if target, ok := strings.CutPrefix(c, "->"); ok {
					if err := os.Symlink(target, full); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			layers = append(layers, top)
		}
		for _, d := range []string{
			filepath.Join(pod, abi.AppsInfo, a.name),
			filepath.Join(pod, abi.Overlay, a.name, "upper"),
			filepath.Join(pod, abi.Overlay, a.name, "work"),
			filepath.Join(pod, abi.Stage2, a.name, "rootfs"),
		} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(pod, abi.AppsInfo, a.name, abi.AppLayers), []byte(strings.Join(layers, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var env []podinit.EnvVar
		for k, v := range a.env {
			env = append(env, podinit.EnvVar{Name: k, Value: v})
		}
		user, group := a.user, a.group
		if user == "" {
			user = "0"
		}
		if group == "" {
			group = "0"
		}
		pm.Apps = append(pm.Apps, podinit.RuntimeApp{
			Name: a.name,
			App: &podinit.App{
				Exec: a.exec, User: user, Group: group, Environment: env, WorkingDirectory: a.wd,
			},
			ReadOnlyRootFS: a.ro,
			Mounts:         a.mounts,
		})
	}
	data, err := json.Marshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pod, abi.PodManifest), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(pod, abi.Stage1State), 0o755); err != nil {
		t.Fatal(err)
	}
	return pod
}

type result struct {
	stdout, stderr string
	code           int
	signaled       bool
}

// startPod starts the run entrypoint with the lock fd as fd 3.
func startPod(t *testing.T, pod string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	bin := stage1Binary(t)
	lock, err := os.Open(pod)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close() // the child keeps the lock (same open file description)
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		args = []string{"--net=host"}
	}
	cmd := exec.CommandContext(t.Context(), bin, append(append([]string{"run"}, args...), testUUID)...)
	cmd.Dir = pod
	cmd.ExtraFiles = []*os.File{lock}
	cmd.Env = []string{"RKT_LOCK_FD=3", "RKT_STAGE1_STOP_TIMEOUT=2s", "PATH=/usr/bin:/bin"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

func waitPod(t testing.TB, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) result {
	t.Helper()
	err := cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		r.code = ws.ExitStatus()
		if ws.Signaled() {
			r.signaled = true
			r.code = 128 + int(ws.Signal())
		}
	default:
		t.Fatal(err)
	}
	return r
}

func runPod(t *testing.T, pod string, args ...string) result {
	t.Helper()
	cmd, o, e := startPod(t, pod, args...)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	defer close(done)
	return waitPod(t, cmd, o, e)
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func shApp(name, script string) testApp {
	return testApp{name: name, exec: []string{"/bin/sh", "-c", script}}
}
