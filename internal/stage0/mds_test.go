package stage0

import (
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/mds"
	"github.com/rkt/rkt/internal/mds/mdsclient"
	"github.com/rkt/rkt/internal/stage1/abi"
)

const mdsTestUUID = "6f4d2d4e-4a6b-4d4c-9a1e-0c6c2f0e9a11"

func TestMDSEnv(t *testing.T) {
	for _, c := range []struct {
		port int
		want []string
	}{
		{abi.MDSPort, nil},
		{40001, []string{abi.EnvMDSPort + "=40001"}},
		{1, []string{abi.EnvMDSPort + "=1"}},
	} {
		if got := MDSEnv(c.port); !reflect.DeepEqual(got, c.want) {
			t.Errorf("MDSEnv(%d) = %q, want %q", c.port, got, c.want)
		}
	}
}

// startTestMDS serves a metadata service's registration API on a socket
// of a temporary directory until the test ends.
func startTestMDS(t *testing.T, port int) string {
	t.Helper()
	svc, err := mds.NewService(port, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "mds.sock")
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: svc.RegistrationHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return socket
}

// mdsRecord is the pod directory's registration record, and whether
// there is one.
func mdsRecord(t *testing.T, podDir string) (string, bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(podDir, abi.MDSRegistered))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(raw), true
}

func TestRegisterMDS(t *testing.T) {
	running := startTestMDS(t, 40001)
	missing := filepath.Join(t.TempDir(), "none.sock")
	noApps := &schema.PodManifest{ACKind: schema.PodManifestKind, ACVersion: schema.AppContainerVersion}
	id, err := types.NewHash("sha512-" + strings.Repeat("1", 128))
	if err != nil {
		t.Fatal(err)
	}
	oneApp := &schema.PodManifest{ACKind: schema.PodManifestKind, ACVersion: schema.AppContainerVersion,
		Apps: schema.AppList{{Name: types.ACName("web"), Image: schema.RuntimeImage{ID: *id}}}}
	for _, c := range []struct {
		name   string
		socket string
		pm     *schema.PodManifest
		err    string
		// unavailable: the error is errdefs.KindUnavailable.
		unavailable bool
		// record: the registration record is left (naming the socket).
		record bool
	}{
		{name: "registered", socket: running, pm: noApps, record: true},
		{name: "relative socket", socket: "mds.sock", pm: noApps, err: "not an absolute path"},
		// An app's image manifest is read before anything is recorded.
		{name: "app without its image record", socket: running, pm: oneApp, err: "app web: image manifest"},
		// No service: the record stays, for gc to try again.
		{name: "no service", socket: missing, pm: noApps, err: "metadata service is not running", unavailable: true, record: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			podDir := t.TempDir()
			token, port, err := RegisterMDS(t.Context(), nil, podDir, mdsTestUUID, c.socket, c.pm)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				if errdefs.Is(err, errdefs.KindUnavailable) != c.unavailable {
					t.Errorf("err %v: unavailable %v, want %v", err, !c.unavailable, c.unavailable)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if !mds.ValidToken(token) || port != 40001 {
					t.Errorf("token %q, port %d", token, port)
				}
			}
			if got, ok := mdsRecord(t, podDir); ok != c.record || ok && got != c.socket {
				t.Errorf("record %q (%v), want %v, naming %q", got, ok, c.record, c.socket)
			}
		})
	}
}

func TestUnregisterMDS(t *testing.T) {
	running := startTestMDS(t, abi.MDSPort)
	registered := func(t *testing.T, podDir string) {
		t.Helper()
		if _, _, err := RegisterMDS(t.Context(), nil, podDir, mdsTestUUID, running, &schema.PodManifest{ACKind: schema.PodManifestKind, ACVersion: schema.AppContainerVersion}); err != nil {
			t.Fatal(err)
		}
	}
	record := func(socket string) func(*testing.T, string) {
		return func(t *testing.T, podDir string) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(podDir, abi.MDSRegistered), []byte(socket), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name  string
		setup func(*testing.T, string)
		err   string
		// kept: the record is still there afterwards.
		kept bool
		// gone: the service no longer knows the pod afterwards.
		gone bool
	}{
		{name: "registered", setup: registered, gone: true},
		{name: "no record", setup: func(*testing.T, string) {}},
		// The service restarted since, or the pod is gone from it.
		{name: "not registered", setup: record(running)},
		{name: "service gone", setup: record(filepath.Join(t.TempDir(), "none.sock"))},
		{name: "relative socket", setup: record("mds.sock"), err: "not a socket path", kept: true},
		{name: "socket path that climbs", setup: record("/run/rkt/../../tmp/x.sock"), err: "not a socket path", kept: true},
		{name: "empty record", setup: record(""), err: "not a socket path", kept: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			podDir := t.TempDir()
			c.setup(t, podDir)
			before, _ := mdsRecord(t, podDir)
			err := UnregisterMDS(t.Context(), podDir, mdsTestUUID)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err %v, want %q", err, c.err)
			}
			if got, ok := mdsRecord(t, podDir); ok != c.kept || ok && got != before {
				t.Errorf("record after: %q (%v, before: %q), want kept %v", got, ok, before, c.kept)
			}
			if c.gone {
				if err := mdsclient.NewClient(running).Unregister(t.Context(), mdsTestUUID); !errors.Is(err, mdsclient.ErrNotRegistered) {
					t.Errorf("the pod is still registered: %v", err)
				}
			}
		})
	}
}
