package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// writeACI writes an ACI of busybox with the given app and returns its path.
func writeACI(t *testing.T, name, version, appJSON string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), strings.ReplaceAll(name, "/", "-")+".aci")
	if err := os.WriteFile(file, testutil.BusyboxACI(t, testutil.ACIManifest(name, version, appJSON)), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestRunACI(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	aci := writeACI(t, "example.com/hello", "1.0", `{"exec":["/bin/sh","-c","echo hello $WHO from $(pwd) as $(id -u):$(id -g)"],
		"user":"nobody","group":"65534","workingDirectory":"/tmp",
		"environment":[{"name":"WHO","value":"aci"}],
		"ports":[{"name":"http","protocol":"tcp","port":8080}]}`)

	// Unsigned ACIs are refused (trust_test.go has the signed ones).
	r := rkt(t, e, "fetch", aci).exit(t, 254)
	mentions(t, "stderr", r.stderr, "error opening signature file")

	id := strings.TrimSpace(rkt(t, e, insecureImage, "fetch", aci).ok(t).stdout)
	if !strings.HasPrefix(id, "sha512-") {
		t.Fatalf("ACI ID %q is not sha512-", id)
	}
	if l := rkt(t, e, "image", "list", "--no-legend").ok(t).stdout; !strings.Contains(l, "example.com/hello:1.0") {
		t.Errorf("image list:\n%s", l)
	}

	// The manifest's app: exec, user and group (by name through the
	// image's /etc/passwd), working directory, environment.
	out := rkt(t, e, insecureImage, "run", "--net=host", aci).ok(t).stdout
	if !strings.Contains(out, "hello aci from /tmp as 65534:65534") {
		t.Errorf("run: %q", out)
	}
	// By stored name, with --exec and arguments.
	out = rkt(t, e, "run", "--net=host", "example.com/hello:1.0", "--exec=/bin/echo", "--", "over", "ridden").ok(t).stdout
	if strings.TrimSpace(out) != "over ridden" {
		t.Errorf("--exec: %q", out)
	}
	out = rkt(t, e, "run", "--net=host", "--user=0", "example.com/hello:1.0", "--", "-c", "id -u").ok(t).stdout
	if strings.TrimSpace(out) != "0" {
		t.Errorf("-- args replace the exec's arguments: %q", out)
	}
	// The ACI's named port is what --port names.
	rkt(t, e, "prepare", "--port=http:18085", "example.com/hello:1.0").ok(t)
	r = rkt(t, e, "prepare", "--port=nope:18085", "example.com/hello:1.0").exit(t, 254)
	mentions(t, "stderr", r.stderr, "no app of the pod has a port of that name")

	// rkt image export gives back the same bytes.
	exported := filepath.Join(t.TempDir(), "out.aci")
	rkt(t, e, "image", "export", id, exported).ok(t)
	a := []byte(readFile(t, aci))
	b, err := os.ReadFile(exported)
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("exported ACI differs from the fetched one (%d and %d bytes): %v", len(a), len(b), err)
	}
}

func TestRunACIBadImages(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	for _, c := range []struct {
		name, file, err string
	}{
		{"no app", writeACI(t, "example.com/noapp", "1", ""), "the image has no command to run: give one with --exec"},
		{"other arch", func() string {
			f := filepath.Join(t.TempDir(), "arch.aci")
			m := strings.Replace(testutil.ACIManifest("example.com/arch", "1", ""), `"value":"`+testutil.AppcArch()+`"`, `"value":"s390x"`, 1)
			if err := os.WriteFile(f, testutil.BusyboxACI(t, m), 0o644); err != nil {
				t.Fatal(err)
			}
			return f
		}(), `bad arch "s390x"`},
		{"missing file", "/nonexistent/app.aci", "/nonexistent/app.aci"},
	} {
		r := rkt(t, e, insecureImage, "run", "--net=host", c.file)
		if r.code != 254 || !strings.Contains(r.stderr, c.err) {
			t.Errorf("%s: want exit 254 and %q:\n%s", c.name, c.err, r)
		}
	}
	if l := rkt(t, e, "list", "--no-legend").ok(t).stdout; strings.TrimSpace(l) != "" {
		t.Errorf("failed runs left pods:\n%s", l)
	}
}

func TestRunACIEventHandlers(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	handlers := func(pre string) string {
		return `{"exec":["/bin/sh","-c","cat /data/log; echo main >> /data/log"],"user":"nobody","group":"65534",
			"mountPoints":[{"name":"data","path":"/data"}],
			"eventHandlers":[{"name":"pre-start","exec":["/bin/sh","-c","` + pre + `"]},
				{"name":"post-stop","exec":["/bin/sh","-c","echo post as $(id -u) >> /data/log"]}]}`
	}
	data := t.TempDir()
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	vol := "--volume=data,kind=host,source=" + data
	aci := writeACI(t, "example.com/handlers", "1", handlers("echo pre as $(id -u) > /data/log"))
	out := rkt(t, e, insecureImage, "run", "--net=host", vol, aci).ok(t).stdout
	if out != "pre as 65534\n" {
		t.Errorf("the app saw %q, want what pre-start wrote", out)
	}
	log, _ := os.ReadFile(filepath.Join(data, "log"))
	if string(log) != "pre as 65534\nmain\npost as 65534\n" {
		t.Errorf("log %q: pre-start, the app, post-stop in order, as the app's user", log)
	}
	// A failing pre-start: the app does not run, the pod fails with its code.
	failing := writeACI(t, "example.com/handlers-fail", "1", handlers("echo failed > /data/log; exit 7"))
	r := rkt(t, e, insecureImage, "run", "--net=host", vol, failing)
	if r.code != 7 {
		t.Errorf("failing pre-start: exit %d, want 7\n%s", r.code, r)
	}
	if log, _ := os.ReadFile(filepath.Join(data, "log")); string(log) != "failed\n" {
		t.Errorf("after a failing pre-start: log %q", log)
	}
}

// TestACIPathWhitelist: an ACI's files over its dependency's, filtered by
// its pathWhitelist as appc renders them, with and without overlay; a
// user and group given as paths; --no-overlay of an ACI with a dependency.
func TestACIPathWhitelist(t *testing.T) {
	e, _ := podEnv(t)
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	base := write("base.aci", testutil.BusyboxACI(t, testutil.ACIManifest("example.com/wl-base", "1", ""),
		testutil.File("etc/secret", 0o644, "base secret"),
		testutil.Dir("opt/", 0o755),
		testutil.File("opt/keep", 0o644, "kept from base"),
		testutil.File("opt/drop", 0o644, "dropped")))
	owned := testutil.File("app/own", 0o644, "own file")
	owned.Uid, owned.Gid = 1234, 4321
	script := `echo $(id -u):$(id -g); ls /opt; cat /opt/keep /app/own; echo; ` +
		`for f in /etc/secret /opt/drop /app/unlisted; do [ -e $f ] && echo has $f; done; echo done`
	app := func(name, whitelist string) string {
		m := testutil.ACIManifest("example.com/"+name, "1", `{"exec":["/bin/sh","-c","`+script+`"],"user":"/app/own","group":"/app/own"}`)
		m = strings.TrimSuffix(m, "}") + `,"dependencies":[{"imageName":"example.com/wl-base"}]`
		if whitelist != "" {
			m += `,"pathWhitelist":` + whitelist
		}
		return write(name+".aci", testutil.ACI(t, m+"}", testutil.Dir("app/", 0o755), owned,
			testutil.File("app/unlisted", 0o644, "not listed")))
	}
	wl := app("wl-app", `["/bin/busybox","/bin/sh","/bin/id","/bin/ls","/bin/cat","/etc/passwd","/etc/group","/opt/keep","/app/own"]`)
	plain := app("wl-plain", "")
	rkt(t, e, insecureImage, "fetch", base).ok(t)

	want := "1234:4321\nkeep\nkept from baseown file\ndone\n"
	for _, flags := range [][]string{{"--net=host"}, {"--net=host", "--no-overlay"}} {
		out := rkt(t, e, append(append([]string{insecureImage, "run"}, flags...), wl)...).ok(t).stdout
		if out != want {
			t.Errorf("whitelisted app %v saw\n%s\nwant\n%s", flags, out, want)
		}
	}
	// Without a whitelist every file of both images shows, with or
	// without overlay.
	wantAll := "1234:4321\ndrop\nkeep\nkept from baseown file\nhas /etc/secret\nhas /opt/drop\nhas /app/unlisted\ndone\n"
	for _, flags := range [][]string{{"--net=host"}, {"--net=host", "--no-overlay"}} {
		out := rkt(t, e, append(append([]string{insecureImage, "run"}, flags...), plain)...).ok(t).stdout
		if out != wantAll {
			t.Errorf("app %v saw\n%s\nwant\n%s", flags, out, wantAll)
		}
	}
	// An ACI app exports as an ACI of the whole tree (the dependency's
	// files, the whitelist applied, the app's changes), not as OCI.
	uuidFile := filepath.Join(dir, "uuid")
	rkt(t, e, insecureImage, "run", "--net=host", "--uuid-file-save="+uuidFile, wl, "--user=0", "--exec=/bin/sh", "--", "-c", "echo new > /app/new").ok(t)
	uuid := readUUID(t, uuidFile)
	r := rkt(t, e, "export", uuid, filepath.Join(dir, "out.tar")).exit(t, 254)
	mentions(t, "stderr", r.stderr, "export it as an ACI")
	exported := filepath.Join(dir, "out.aci")
	rkt(t, e, "export", uuid, exported).ok(t)
	out := rkt(t, e, insecureImage, "run", "--net=host", exported, "--exec=/bin/sh", "--", "-c", "cat /app/new; "+script).ok(t).stdout
	if out != "new\n"+want {
		t.Errorf("the exported ACI saw\n%s\nwant\n%s", out, "new\n"+want)
	}

	// A user given as a path that is not in the image.
	m := testutil.ACIManifest("example.com/wl-nouser", "1", `{"exec":["/bin/true"],"user":"/nope","group":"0"}`)
	r = rkt(t, e, insecureImage, "run", "--net=host", write("nouser.aci", testutil.BusyboxACI(t, m))).exit(t, 254)
	mentions(t, "stderr", r.stderr, "/nope")
}

// TestRunPodManifestMixed: a hand-written pod manifest with an ACI app and
// an OCI app, each found by its appc image ID, sharing a volume.
func TestRunPodManifestMixed(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	uuid := strings.TrimSpace(rkt(t, e, insecureImage, "prepare", "--quiet", img, "--exec=/bin/true").ok(t).stdout)
	var prepared struct {
		Apps []struct {
			Image struct {
				ID string `json:"id"`
			} `json:"image"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(rkt(t, e, "cat-manifest", uuid).ok(t).stdout), &prepared); err != nil || len(prepared.Apps) != 1 {
		t.Fatalf("cat-manifest: %v", err)
	}
	ociID := prepared.Apps[0].Image.ID
	aci := writeACI(t, "example.com/mixed", "1", `{"exec":["/bin/sh","-c","for i in $(seq 100); do [ -s /shared/oci ] && break; sleep 0.05; done; echo from-aci sees $(cat /shared/oci)"],"user":"0","group":"0",
		"mountPoints":[{"name":"shared","path":"/shared"}]}`)
	aciID := strings.TrimSpace(rkt(t, e, insecureImage, "fetch", aci).ok(t).stdout)
	shared := t.TempDir()
	pm := map[string]any{
		"acKind": "PodManifest", "acVersion": "0.8.11",
		"apps": []any{
			map[string]any{"name": "oci", "image": map[string]any{"id": ociID},
				"app":    map[string]any{"exec": []string{"/bin/sh", "-c", "echo from-oci > /shared/oci"}, "user": "0", "group": "0"},
				"mounts": []any{map[string]any{"volume": "shared", "path": "/shared"}}},
			map[string]any{"name": "aci", "image": map[string]any{"id": aciID, "name": "example.com/mixed"},
				"mounts": []any{map[string]any{"volume": "shared", "path": "/shared"}}},
		},
		"volumes": []any{map[string]any{"name": "shared", "kind": "host", "source": shared}},
	}
	file := filepath.Join(e.home, "mixed.json")
	writeJSON(t, file, pm)
	out := rkt(t, e, "run", "--net=host", "--pod-manifest="+file).ok(t).stdout
	if !strings.Contains(out, "from-aci sees from-oci") {
		t.Errorf("mixed pod printed %q", out)
	}
	// An ID that is in no store.
	pm["apps"].([]any)[1].(map[string]any)["image"] = map[string]any{"id": "sha512-" + strings.Repeat("0", 128)}
	writeJSON(t, file, pm)
	r := rkt(t, e, "run", "--net=host", "--pod-manifest="+file).exit(t, 254)
	mentions(t, "stderr", r.stderr, "is not in the store")
}

// actool is appc's own tool, built by make test-tools ($ACTOOL overrides).
func actool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("ACTOOL")
	if p == "" {
		p = filepath.Join(filepath.Dir(rktBinary), "test-tools", "actool")
	}
	if !fileExists(p) {
		t.Skipf("no actool at %s: run make test-tools (or set ACTOOL)", p)
	}
	return p
}

// TestACIActool: ACIs that appc's actool builds run, and the ACIs rkt and
// its tests write pass actool validate.
func TestACIActool(t *testing.T) {
	e, _ := podEnv(t)
	tool := actool(t)
	t.Parallel()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), tool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("actool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// An image layout on disk, built into an ACI by actool.
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	for _, d := range []string{"rootfs/bin", "rootfs/etc"} {
		if err := os.MkdirAll(filepath.Join(layout, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(testutil.BusyboxPath)
	if err != nil {
		t.Skipf("busybox: %v", err)
	}
	files := map[string]string{
		"manifest":           testutil.ACIManifest("example.com/actool-built", "1", `{"exec":["/bin/sh","-c","echo built by actool; cat /etc/msg"],"user":"0","group":"0"}`),
		"rootfs/bin/busybox": string(bb),
		"rootfs/etc/msg":     "hello from the layout",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(layout, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("busybox", filepath.Join(layout, "rootfs/bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(layout, "rootfs/bin/cat")); err != nil {
		t.Fatal(err)
	}
	built := filepath.Join(dir, "built.aci")
	run("build", layout, built)
	run("validate", built)
	out := rkt(t, e, insecureImage, "run", "--net=host", "--uuid-file-save="+filepath.Join(dir, "uuid"), built).ok(t).stdout
	if out != "built by actool\nhello from the layout" {
		t.Errorf("the actool-built ACI printed %q", out)
	}

	// Ours: the tests' ACIs, and rkt export's.
	run("validate", writeACI(t, "example.com/ours", "1", `{"exec":["/bin/true"],"user":"0","group":"0"}`))
	exported := filepath.Join(dir, "exported.aci")
	rkt(t, e, "export", readUUID(t, filepath.Join(dir, "uuid")), exported).ok(t)
	run("validate", exported)
	if m := run("cat-manifest", exported); !strings.Contains(m, "example.com/actool-built") || !strings.Contains(m, "rkt.dev/exported-from") {
		t.Errorf("actool cat-manifest of the exported ACI:\n%s", m)
	}
}
