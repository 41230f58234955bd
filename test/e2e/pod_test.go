package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/testutil"
)

// busyboxLayout writes a busybox image as an OCI layout and returns its
// oci: reference.
func busyboxLayout(t *testing.T) string {
	t.Helper()
	img := testutil.BusyboxImage(t, v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=yes"}})
	dir := filepath.Join(t.TempDir(), "busybox")
	testutil.WriteOCILayout(t, dir, img, "latest")
	return "oci:" + dir + ":latest"
}

// requireStage1 skips unless the default stage1 image sits beside rkt.
func requireStage1(t *testing.T) {
	t.Helper()
	if !fileExists(filepath.Join(filepath.Dir(rktBinary), "stage1-ns.aci")) {
		t.Skip("needs bin/stage1-ns.aci beside rkt: run make build")
	}
}

func podEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	requireStage1(t)
	t.Cleanup(func() { cleanPods(t, e) })
	return e, busyboxLayout(t)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestRunExitCodesAndOutput(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	r := rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/echo", "--", "hello", "pod").ok(t)
	if strings.TrimSpace(r.stdout) != "hello pod" {
		t.Errorf("stdout = %q, want the app's output", r.stdout)
	}
	rkt(t, e, insecureImage, "run", "--net=none", img, "--exec=/bin/sh", "--", "-c", "exit 7").exit(t, 7)
	rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/false").exit(t, 1)
	// Two apps: the pod's code is the failing app's.
	r = rkt(t, e, insecureImage, "run", "--net=host", "--uuid-file-save="+filepath.Join(e.home, "uuid"),
		img, "--name=ok", "--exec=/bin/true", "---", img, "--name=bad", "--exec=/bin/sh", "--", "-c", "exit 5")
	r.exit(t, 5)
	uuid := readUUID(t, filepath.Join(e.home, "uuid"))
	st := rkt(t, e, "status", uuid).ok(t)
	if !strings.Contains(st.stdout, "app-bad=5\n") || !strings.Contains(st.stdout, "state=exited\n") {
		t.Errorf("status of the two-app pod:\n%s", st.stdout)
	}
}

func TestRunAppEnvironmentAndIdentity(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	r := rkt(t, e, insecureImage, "run", "--net=none", "--set-env=SET=1", img, "--user=65534", "--group=65534",
		"--working-dir=/tmp", "--environment=APP=2", "--exec=/bin/sh", "--", "-c",
		`echo "id=$(id -u):$(id -g) pwd=$(pwd) set=$SET app=$APP img=$FROM_IMAGE name=$AC_APP_NAME host=$(hostname)"`).ok(t)
	out := strings.TrimSpace(r.stdout)
	for _, want := range []string{"id=65534:65534", "pwd=/tmp", "set=1", "app=2", "img=yes", "name=busybox", "host=rkt-"} {
		if !strings.Contains(out, want) {
			t.Errorf("app saw %q, want %q in it", out, want)
		}
	}
}

func TestPrepareRunPreparedListStatus(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	r := rkt(t, e, insecureImage, "prepare", "--quiet", img, "--exec=/bin/true").ok(t)
	uuid := strings.TrimSpace(r.stdout)
	if !uuidRE.MatchString(uuid) {
		t.Fatalf("prepare printed %q, want a UUID", r.stdout)
	}
	l := rkt(t, e, "list", "--no-legend").ok(t)
	if f := strings.Fields(l.stdout); len(f) < 4 || f[0] != uuid[:8] || f[1] != "busybox" || f[3] != "prepared" {
		t.Errorf("list of a prepared pod: %q", l.stdout)
	}
	rkt(t, e, "run-prepared", "--net=host", uuid[:6]).ok(t)
	st := rkt(t, e, "status", uuid).ok(t)
	keys := []string{}
	for _, l := range lines(st.stdout) {
		k, _, _ := strings.Cut(l, "=")
		keys = append(keys, k)
	}
	if got := strings.Join(keys, ","); got != "state,created,started,networks,pid,exited,app-busybox" {
		t.Errorf("status keys = %s, want rkt's order\n%s", got, st.stdout)
	}
	var pods []map[string]any
	j := rkt(t, e, "list", "--format=json").ok(t)
	if err := json.Unmarshal([]byte(j.stdout), &pods); err != nil || len(pods) != 1 || pods[0]["name"] != uuid || pods[0]["state"] != "exited" {
		t.Errorf("list --format=json = %s (%v)", j.stdout, err)
	}
	hdr := lines(rkt(t, e, "list").ok(t).stdout)[0]
	if strings.Join(strings.Fields(hdr), " ") != "UUID APP IMAGE NAME STATE CREATED STARTED NETWORKS" {
		t.Errorf("list header = %q", hdr)
	}
	cm := rkt(t, e, "cat-manifest", uuid).ok(t)
	var pm map[string]any
	if err := json.Unmarshal([]byte(cm.stdout), &pm); err != nil || pm["acKind"] != "PodManifest" {
		t.Errorf("cat-manifest = %s (%v)", cm.stdout, err)
	}
	rkt(t, e, "run-prepared", "--net=host", uuid).exit(t, 254)
	rkt(t, e, "status", "ffffffff").exit(t, 254)
}

func TestStopEnterAndGC(t *testing.T) {
	e, img := podEnv(t)
	before := podMounts(t, e)
	uuidFile := filepath.Join(e.home, "uuid")
	cmd, _, _, cancel := rktCommand(e, append(e.globalFlags(), insecureImage, "run", "--net=host", "--uuid-file-save="+uuidFile, img, "--exec=/bin/sleep", "--", "1000")...)
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !fileExists(uuidFile) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	uuid := readUUID(t, uuidFile)
	rkt(t, e, "status", "--wait-ready=20s", uuid).ok(t)
	en := rkt(t, e, "enter", uuid, "/bin/cat", "/etc/hostname").ok(t)
	if strings.TrimSpace(en.stdout) != "rkt-"+uuid {
		t.Errorf("enter saw hostname %q, want rkt-%s", en.stdout, uuid)
	}
	rkt(t, e, "rm", uuid).exit(t, 254) // running pods are not removed
	st := rkt(t, e, "stop", uuid).ok(t)
	if strings.TrimSpace(st.stdout) != `"`+uuid+`"` {
		t.Errorf("stop printed %q", st.stdout)
	}
	select {
	case err := <-done:
		t.Logf("rkt run after stop: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("rkt run did not exit after stop")
	}
	if s := rkt(t, e, "status", uuid).ok(t).stdout; !strings.HasPrefix(s, "state=exited\n") {
		t.Errorf("status after stop:\n%s", s)
	}
	if s := rkt(t, e, "stop", uuid).ok(t); !strings.Contains(s.stderr, "already stopped") {
		t.Errorf("second stop: %s", s)
	}
	gc := rkt(t, e, "gc", "--grace-period=0s").ok(t)
	if !strings.Contains(gc.stdout, `Garbage collecting pod "`+uuid+`"`) {
		t.Errorf("gc output: %s", gc)
	}
	if after := podMounts(t, e); after != before {
		t.Errorf("mounts under the data dir after gc:\n%s\nbefore:\n%s", after, before)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "pods", "exited-garbage")); len(entries) != 0 {
		t.Errorf("exited-garbage not empty after gc: %v", entries)
	}
}

func TestRunBadInput(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"network args on host", []string{"run", "--net=host:IP=10.0.0.1", img}, `the "host" network takes no arguments`},
		{"port with host networking", []string{"run", "--net=host", "--port=80-tcp:8080", img}, "--port cannot be used with --net=host"},
		{"missing image", []string{"run", "--net=host", "oci:/nonexistent:latest"}, "/nonexistent"},
		{"bad ipc", []string{"run", "--net=host", "--ipc=host", img}, `--ipc "host"`},
		{"unknown app flag", []string{"run", "--net=host", img, "--bogus"}, "--bogus"},
		{"unknown volume", []string{"run", "--net=host", img, "--mount=volume=nope,target=/x"}, `volume "nope"`},
		{"same app twice", []string{"run", "--net=host", img, "---", img}, `app name "busybox" is used twice`},
	} {
		r := rkt(t, e, append([]string{insecureImage}, tc.args...)...)
		if r.code != 254 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: want exit 254 and an error naming %q:\n%s", tc.name, tc.want, r)
		}
	}
	// Nothing half-made stays: no pod directories at all.
	if l := rkt(t, e, "list", "--no-legend").ok(t); strings.TrimSpace(l.stdout) != "" {
		t.Errorf("failed runs left pods:\n%s", l.stdout)
	}
	// A missing executable is the app's failure, named.
	r := rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/nope")
	if r.code == 0 || !strings.Contains(r.stderr, "/bin/nope") {
		t.Errorf("exec of a missing file: %s", r)
	}
}

func readUUID(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u := strings.TrimSpace(string(b))
	if !uuidRE.MatchString(u) {
		t.Fatalf("%s holds %q, not a UUID", file, b)
	}
	return u
}

// podMounts lists the mounts under the environment's data directory.
func podMounts(t *testing.T, e *env) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "grep", "-F", e.dir, "/proc/self/mountinfo").Output()
	if err != nil {
		return "" // grep exits 1 when nothing matches
	}
	return string(out)
}

// cleanPods collects every pod of e and detaches what is still mounted
// under its data directory, so the test's temporary directory can go.
func cleanPods(t *testing.T, e *env) {
	rawRkt(t, e, append(e.globalFlags(), "gc", "--grace-period=0s", "--expire-prepared=0s")...)
	for _, line := range strings.Split(podMounts(t, e), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			_ = exec.CommandContext(context.Background(), "umount", "-l", f[4]).Run()
		}
	}
}

func TestImageGCKeepsWhatPodsUse(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/true").ok(t)
	layers := func() int {
		entries, _ := os.ReadDir(filepath.Join(e.store(), "layers"))
		return len(entries)
	}
	before := layers()
	rkt(t, e, "image", "gc", "--grace-period=0s").ok(t)
	if got := layers(); got != before || before == 0 {
		t.Fatalf("image gc with an exited pod left %d of %d layers", got, before)
	}
	// The image still runs from the store with --pull-policy=never.
	rkt(t, e, "run", "--net=host", "--pull-policy=never", "localhost/busybox:latest", "--exec=/bin/true").ok(t)
	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	rkt(t, e, "image", "gc", "--grace-period=0s").ok(t)
	if got := layers(); got != 0 {
		t.Fatalf("image gc after the pods were collected left %d layers", got)
	}
}

func TestRunPodManifest(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	uuid := strings.TrimSpace(rkt(t, e, insecureImage, "prepare", "--quiet", img, "--exec=/bin/true").ok(t).stdout)
	raw := rkt(t, e, "cat-manifest", uuid).ok(t).stdout
	var pm map[string]any
	if err := json.Unmarshal([]byte(raw), &pm); err != nil {
		t.Fatal(err)
	}
	app := pm["apps"].([]any)[0].(map[string]any)["app"].(map[string]any)
	app["exec"] = []string{"/bin/sh", "-c", "exit 9"}
	app["user"], app["group"] = "nobody", "nobody"
	file := filepath.Join(e.home, "pod.json")
	writeJSON(t, file, pm)
	rkt(t, e, "run", "--net=host", "--pod-manifest="+file).exit(t, 9)

	// Without an app section the image's own is used.
	delete(pm["apps"].([]any)[0].(map[string]any), "app")
	writeJSON(t, file, pm)
	rkt(t, e, "run", "--net=host", "--pod-manifest="+file).exit(t, 0)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"conflicting image", []string{"run", "--net=host", "--pod-manifest=" + file, img}, "conflicting flags"},
		{"conflicting flag", []string{"run", "--net=host", "--pod-manifest=" + file, "--set-env=A=1"}, "--set-env"},
		{"missing file", []string{"run", "--net=host", "--pod-manifest=/nonexistent.json"}, "/nonexistent.json"},
	} {
		if r := rkt(t, e, tc.args...); r.code != 254 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: want 254 naming %q: %s", tc.name, tc.want, r)
		}
	}
	bad := filepath.Join(e.home, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"acKind":"ImageManifest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := rkt(t, e, "run", "--net=host", "--pod-manifest="+bad); r.code != 254 || !strings.Contains(r.stderr, "not an appc PodManifest") {
		t.Errorf("a manifest that is not one: %s", r)
	}
	empty := filepath.Join(e.home, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := rkt(t, e, "run", "--net=host", "--pod-manifest="+empty); r.code != 254 || !strings.Contains(r.stderr, "no apps") {
		t.Errorf("a manifest without apps: %s", r)
	}
}

func TestExportThenRun(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	uuidFile := filepath.Join(e.home, "uuid")
	rkt(t, e, insecureImage, "run", "--net=host", "--uuid-file-save="+uuidFile, img, "--exec=/bin/sh", "--",
		"-c", "echo changed > /etc/marker && rm /etc/group && mkdir -p /srv/data && echo x > /srv/data/f").ok(t)
	uuid := readUUID(t, uuidFile)
	out := filepath.Join(e.home, "exported.tar")
	rkt(t, e, "export", uuid, out).ok(t)
	rkt(t, e, "export", uuid, out).exit(t, 254) // exists, no --overwrite
	rkt(t, e, "export", "--overwrite", uuid, out).ok(t)
	r := rkt(t, e, insecureImage, "run", "--net=host", "oci-archive:"+out, "--exec=/bin/sh", "--",
		"-c", "cat /etc/marker /srv/data/f; test -e /etc/group && echo group-back || echo group-gone").ok(t)
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != "changed x group-gone" {
		t.Errorf("the exported image shows %q, want the app's changes (marker, data, deleted /etc/group)", r.stdout)
	}
	// The same as an ACI: the whole tree, and the image's app.
	aci := filepath.Join(e.home, "exported.aci")
	rkt(t, e, "export", uuid, aci).ok(t)
	m := rkt(t, e, insecureImage, "fetch", aci).ok(t)
	id := strings.TrimSpace(m.stdout)
	if !strings.HasPrefix(id, "sha512-") {
		t.Errorf("the exported ACI's ID is %q", id)
	}
	if man := rkt(t, e, "image", "cat-manifest", id).ok(t).stdout; !strings.Contains(man, `"exec"`) || !strings.Contains(man, "rkt.dev/exported-from") {
		t.Errorf("exported ACI manifest:\n%s", man)
	}
	r = rkt(t, e, "run", "--net=host", id, "--exec=/bin/sh", "--",
		"-c", "cat /etc/marker /srv/data/f; test -e /etc/group && echo group-back || echo group-gone").ok(t)
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != "changed x group-gone" {
		t.Errorf("the exported ACI shows %q, want the app's changes", r.stdout)
	}
}

// normalizeOutput replaces what changes between runs (UUIDs, image IDs,
// times, PIDs, temp paths) with placeholders, for golden files.
func normalizeOutput(s, uuid string) string {
	s = strings.ReplaceAll(s, uuid, "<UUID>")
	s = strings.ReplaceAll(s, uuid[:8], "<UUID8>")
	for _, re := range []struct{ re, repl string }{
		{`sha256-[0-9a-f]{12,64}`, "<IMAGE-ID>"},
		{`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \w+`, "<TIME>"},
		{`pid=\d+`, "pid=<PID>"},
		{`(now|\d+ (second|minute)s? ago)`, "<AGO>"},
		{`localhost/[a-z0-9-]+:latest`, "<IMAGE>"},
		// Column widths follow the replaced values: compare columns only.
		{`\t+`, "\t"},
	} {
		s = regexp.MustCompile(re.re).ReplaceAllString(s, re.repl)
	}
	return s
}

func TestListStatusGolden(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	uuidFile := filepath.Join(e.home, "uuid")
	// second fails a second after it starts: a failing app stops the
	// others (SIGTERM), and first, /bin/true, must have exited 0 by then
	// for its status to be stable.
	rkt(t, e, insecureImage, "run", "--net=host", "--uuid-file-save="+uuidFile, img, "--name=first", "--exec=/bin/true",
		"---", img, "--name=second", "--exec=/bin/sh", "--", "-c", "sleep 1; exit 3").exit(t, 3)
	uuid := readUUID(t, uuidFile)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"list", []string{"list"}},
		{"list-full", []string{"list", "--full"}},
		{"list-no-legend", []string{"list", "--no-legend"}},
		{"status", []string{"status", uuid}},
	} {
		out := rkt(t, e, tc.args...).ok(t).stdout
		testutil.Golden(t, "pod-"+tc.name, []byte(normalizeOutput(out, uuid)))
	}
}

func TestVolumes(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rkt(t, e, insecureImage, "run", "--net=host",
		"--volume=rw,kind=host,source="+rw, "--volume=ro,kind=host,source="+ro+",readOnly=true",
		"--volume=shared,kind=empty,mode=0777",
		"--mount=volume=shared,target=/shared",
		img, "--name=writer", "--mount=volume=rw,target=/rw", "--mount=volume=ro,target=/ro", "--exec=/bin/sh", "--", "-c",
		"echo out > /rw/out; cat /ro/in; echo x > /ro/nope 2>/dev/null && echo ro-writable || echo ro-refused; echo hi > /shared/note",
		"---", img, "--name=reader", "--exec=/bin/sh", "--", "-c", "sleep 0.3; cat /shared/note 2>/dev/null || echo missing").ok(t)
	for _, want := range []string{"from host", "ro-refused"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("app output %q lacks %q", r.stdout, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "out\n" {
		t.Errorf("write through the rw volume: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "nope")); err == nil {
		t.Error("the read-only volume was written")
	}
	// A mount target that is a symlink to a host path stays inside the
	// app's rootfs.
	host := t.TempDir()
	imgDir := filepath.Join(t.TempDir(), "evil")
	evil := testutil.Image(t, v1.Config{Cmd: []string{"/bin/sh"}}, testutil.BusyboxLayer(t),
		testutil.Layer(t, []testutil.TarEntry{testutil.Symlink("escape", host)}, testutil.Gzip))
	testutil.WriteOCILayout(t, imgDir, evil, "latest")
	rkt(t, e, insecureImage, "run", "--net=host", "--volume=rw,kind=host,source="+rw,
		"oci:"+imgDir+":latest", "--mount=volume=rw,target=/escape/x", "--exec=/bin/true").ok(t)
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Errorf("a mount through a symlink reached the host dir: %v", entries)
	}
}

func TestGCPreparedAndAborted(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	prepared := strings.TrimSpace(rkt(t, e, insecureImage, "prepare", "--quiet", img, "--exec=/bin/true").ok(t).stdout)
	// An aborted prepare: an unlocked pod directory left in prepare/.
	aborted := "00000000-0000-4000-8000-000000000001"
	if err := os.MkdirAll(filepath.Join(e.dir, "pods", "prepare", aborted), 0o750); err != nil {
		t.Fatal(err)
	}
	l := rkt(t, e, "list", "--no-legend").ok(t).stdout
	if !strings.Contains(l, "aborted prepare") || !strings.Contains(l, "prepared") {
		t.Errorf("list before gc:\n%s", l)
	}
	gc := rkt(t, e, "gc", "--grace-period=0s").ok(t)
	if strings.Contains(gc.stdout, prepared) {
		t.Errorf("gc removed a fresh prepared pod: %s", gc)
	}
	if !strings.Contains(gc.stdout, aborted) {
		t.Errorf("gc kept the aborted prepare: %s", gc)
	}
	gc = rkt(t, e, "gc", "--grace-period=0s", "--expire-prepared=0s").ok(t)
	if !strings.Contains(gc.stdout, prepared) {
		t.Errorf("gc --expire-prepared=0s kept the prepared pod: %s", gc)
	}
	if l := rkt(t, e, "list", "--no-legend").ok(t).stdout; strings.TrimSpace(l) != "" {
		t.Errorf("pods left after gc:\n%s", l)
	}
}

func TestSignalStopsPod(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	uuidFile := filepath.Join(e.home, "uuid")
	cmd, _, _, cancel := rktCommand(e, append(e.globalFlags(), insecureImage, "run", "--net=host", "--uuid-file-save="+uuidFile, img, "--exec=/bin/sleep", "--", "1000")...)
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !fileExists(uuidFile) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	uuid := readUUID(t, uuidFile)
	rkt(t, e, "status", "--wait-ready=20s", uuid).ok(t)
	// The stage1 tree is read-only to the pod: its binaries, which the
	// host runs again for enter, stop and gc, cannot be rewritten.
	w := rkt(t, e, "enter", uuid, "/bin/sh", "-c", "echo x >> /proc/1/exe && echo WROTE || echo refused")
	if strings.Contains(w.stdout, "WROTE") {
		t.Errorf("a pod process wrote the stage1 binary through /proc/1/exe: %s", w)
	}
	start := time.Now()
	if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if time.Since(start) > 15*time.Second {
		t.Errorf("rkt run took %v to stop on SIGTERM", time.Since(start))
	}
	t.Logf("rkt run after SIGTERM: %v", err)
	if s := rkt(t, e, "status", uuid).ok(t).stdout; !strings.HasPrefix(s, "state=exited\n") {
		t.Errorf("status after SIGTERM:\n%s", s)
	}
}

func TestEnvironmentPrecedence(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	envFile := filepath.Join(e.home, "env")
	if err := os.WriteFile(envFile, []byte("# comment\n; also\n\nFILE=file\nBOTH=file\nFROM_IMAGE=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "INHERITED=parent", "FROM_IMAGE=parent")
	r := rkt(t, e, insecureImage, "run", "--net=host", "--inherit-env", "--set-env-file="+envFile, "--set-env=BOTH=flag",
		img, "--environment=APP=app", "--exec=/bin/sh", "--", "-c",
		`echo "$INHERITED $FROM_IMAGE $FILE $BOTH $APP $PATH"`).ok(t)
	want := "parent file file flag app /usr/sbin:/usr/bin:/sbin:/bin"
	if got := strings.TrimSpace(r.stdout); got != want {
		t.Errorf("env seen by the app = %q, want %q (parent < image < --set-env-file < --set-env < --environment)", got, want)
	}
}
