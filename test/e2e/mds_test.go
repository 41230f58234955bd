package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/testutil"
)

// mds is a metadata service started by a test.
type mds struct {
	socket string
	port   string
	// log is what the service printed so far.
	log func() string
}

var mdsReadyRE = regexp.MustCompile(`pods on port (\d+)`)

// startMDS runs rkt metadata-service in the background on a free port and
// a socket of its own (not rkt's /run/rkt/metadata-svc.sock, so tests run
// side by side), until the test ends.
func startMDS(t *testing.T, e *env) *mds {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "mds.sock")
	cmd := exec.CommandContext(context.Background(), rktBinary, append(e.globalFlags(), "metadata-service", "--listen-port=0", "--socket="+socket)...)
	cmd.Env = e.environ()
	cmd.Dir = e.home
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	var logged strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	m := &mds{socket: socket}
	t.Cleanup(func() {
		// SIGTERM stops it cleanly: exit 0, socket removed.
		_ = cmd.Process.Signal(unix.SIGTERM)
		timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
		defer timer.Stop()
		if err := cmd.Wait(); err != nil {
			t.Errorf("metadata service: %v", err)
		}
		<-logDone
		if _, err := os.Stat(socket); err == nil {
			t.Errorf("the metadata service left its socket %s", socket)
		}
	})
	deadline := time.After(30 * time.Second)
	for m.port == "" {
		select {
		case l := <-lines:
			logged.WriteString(l + "\n")
			if sm := mdsReadyRE.FindStringSubmatch(l); sm != nil {
				m.port = sm[1]
			}
		case <-deadline:
			t.Fatalf("the metadata service did not start:\n%s", logged.String())
		}
	}
	m.log = func() string {
		for {
			select {
			case l := <-lines:
				logged.WriteString(l + "\n")
			default:
				return logged.String()
			}
		}
	}
	return m
}

// mdsACI is a busybox ACI whose app prints what the metadata service
// says of it, with an annotation of its own.
func mdsACI(t *testing.T) string {
	t.Helper()
	script := `set -e; u=$AC_METADATA_URL/acMetadata/v1; ` +
		`echo url=$AC_METADATA_URL; ` +
		`echo annotation=$(wget -q -O - $u/apps/$AC_APP_NAME/annotations/example.com/greeting); ` +
		`echo uuid=$(wget -q -O - $u/pod/uuid); ` +
		`echo id=$(wget -q -O - $u/apps/$AC_APP_NAME/image/id); ` +
		// Another token (hex tokens have no x) gets nothing.
		`wget -q -O - ${AC_METADATA_URL%?}x/acMetadata/v1/pod/uuid && echo other token answered || echo other token refused`
	app, err := json.Marshal(map[string]any{"exec": []string{"/bin/sh", "-c", script}, "user": "0", "group": "0"})
	if err != nil {
		t.Fatal(err)
	}
	m := testutil.ACIManifest("example.com/mds-reader", "1", string(app))
	m = strings.TrimSuffix(m, "}") + `,"annotations":[{"name":"example.com/greeting","value":"hello from the image"}]}`
	file := filepath.Join(t.TempDir(), "mds-reader.aci")
	if err := os.WriteFile(file, testutil.BusyboxACI(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestMetadataService is rkt 1.x's metadata_service functional test and
// more: an app reads its own annotation, its pod's UUID and its image ID
// from the service, on the host network and on the default CNI network;
// another pod's token gets nothing (asked by the app), nor does a path
// that climbs out of an app's endpoints (asked by the test, with the
// pod's token, on the wire: the unit tests cover the handler);
// --net=none and a service that is not running are clear errors; gc
// unregisters the pod.
func TestMetadataService(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	aci := mdsACI(t)
	id := strings.TrimSpace(rkt(t, e, insecureImage, "fetch", aci).ok(t).stdout)

	// No service: a clear error, before any pod is made.
	missing := filepath.Join(t.TempDir(), "none.sock")
	r := rkt(t, e, "run", "--mds-register", "--mds-socket="+missing, "--net=host", aci).exit(t, 254)
	mentions(t, "stderr", r.stderr, "metadata service is not running", "rkt metadata-service")
	if l := rkt(t, e, "list", "--no-legend").ok(t).stdout; strings.TrimSpace(l) != "" {
		t.Errorf("a pod was made without a metadata service:\n%s", l)
	}

	m := startMDS(t, e)
	r = rkt(t, e, "run", "--mds-register", "--mds-socket="+m.socket, "--net=none", aci).exit(t, 254)
	mentions(t, "stderr", r.stderr, "--mds-register cannot be used with --net=none")

	for _, net := range []string{"--net=host", "--net=default"} {
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		out := rkt(t, e, insecureImage, "run", "--mds-register", "--mds-socket="+m.socket, net, "--uuid-file-save="+uuidFile, aci).ok(t).stdout
		uuid := readUUID(t, uuidFile)
		host := "127.0.0.1"
		if net == "--net=default" {
			host = "172.16.28.1"
		}
		for _, want := range []string{
			"url=http://" + host + ":" + m.port + "/",
			"annotation=hello from the image",
			"uuid=" + uuid,
			"id=" + id,
			"other token refused",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the app's output lacks %q:\n%s", net, want, out)
			}
		}
		checkNoClimb(t, m, net, out, uuid)
		reg, err := os.ReadFile(filepath.Join(e.dir, "pods", "exited-garbage", uuid, "mds-registered"))
		if err != nil {
			reg, err = os.ReadFile(filepath.Join(e.dir, "pods", "run", uuid, "mds-registered"))
		}
		if err != nil || string(reg) != m.socket {
			t.Errorf("%s: mds-registered %q, %v", net, reg, err)
		}
		rkt(t, e, "gc", "--grace-period=0s").ok(t)
		// The service logs before it answers, but its log reaches the
		// test through a pipe and a goroutine: give the line a moment.
		log := m.log()
		for end := time.Now().Add(5 * time.Second); !strings.Contains(log, "pod "+uuid+" unregistered") && time.Now().Before(end); log = m.log() {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(log, "pod "+uuid+" registered") || !strings.Contains(log, "pod "+uuid+" unregistered") {
			t.Errorf("%s: the service did not see the pod registered, then unregistered by gc:\n%s", net, log)
		}
	}
	// run-prepared --mds-register, with an OCI image: its image manifest
	// is the appc view of it.
	prepare := func() string {
		return strings.TrimSpace(rkt(t, e, insecureImage, "prepare", "--quiet", img, "--name=oci", "--exec=/bin/busybox", "--",
			"sh", "-c", "wget -q -O - $AC_METADATA_URL/acMetadata/v1/apps/oci/image/manifest").ok(t).stdout)
	}
	uuid := prepare()
	r = rkt(t, e, "run-prepared", "--mds-register", "--mds-socket="+m.socket, "--net=none", uuid).exit(t, 254)
	mentions(t, "stderr", r.stderr, "--mds-register cannot be used with --net=none")
	// The pod stays prepared.
	out := rkt(t, e, "run-prepared", "--mds-register", "--mds-socket="+m.socket, "--net=host", uuid).ok(t).stdout
	var im struct {
		Kind string `json:"acKind"`
		Name string `json:"name"`
		App  struct {
			Exec []string `json:"exec"`
		} `json:"app"`
	}
	// The image's command, not --exec: the image's manifest, not the app's.
	if err := json.Unmarshal([]byte(out), &im); err != nil || im.Kind != "ImageManifest" || !strings.Contains(im.Name, "busybox") || len(im.App.Exec) != 1 || im.App.Exec[0] != "/bin/sh" {
		t.Errorf("run-prepared: the OCI app's image manifest %q: %v %+v", out, err, im)
	}
	if strings.Contains(m.log(), "acMetadata") {
		t.Errorf("the service logged request paths (tokens):\n%s", m.log())
	}
}

// checkNoClimb asks the service, with the token of the pod whose app
// printed out (its url= line), while the pod is still registered: its
// UUID directly (answered), and through a path that climbs out of an
// app's endpoints (refused: paths match exactly, and nothing cleans them
// on the way).
func checkNoClimb(t *testing.T, m *mds, net, out, uuid string) {
	t.Helper()
	token := ""
	for _, l := range lines(out) {
		if u, ok := strings.CutPrefix(l, "url="); ok {
			token = u[strings.LastIndex(u, "/")+1:]
		}
	}
	if token == "" {
		t.Errorf("%s: the app printed no url= line:\n%s", net, out)
		return
	}
	base := "http://127.0.0.1:" + m.port + "/" + token + "/acMetadata/v1/"
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"pod/uuid", http.StatusOK, uuid},
		{"apps/x/../../pod/uuid", http.StatusNotFound, ""},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: GET %s: %v", net, c.path, err)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != c.code || c.body != "" && string(body) != c.body {
			t.Errorf("%s: GET %s: %s %q, %v; want %d %q", net, c.path, resp.Status, body, err, c.code, c.body)
		}
	}
}
