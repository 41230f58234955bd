package mds

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/mds/mdsclient"
)

// TestSocketActivation starts this test binary as a service whose
// registration socket comes as fd 3 with LISTEN_FDS=1, as systemd passes
// it, and registers a pod through that socket.
func TestSocketActivation(t *testing.T) {
	if os.Getenv("MDS_TEST_ACTIVATED") == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// The socket path given is not used: fd 3 is.
		if err := Serve(ctx, Options{Port: 0, Socket: "/nonexistent/unused.sock"}); err != nil {
			t.Fatal(err)
		}
		return
	}
	socket := filepath.Join(t.TempDir(), "activated.sock")
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	// The socket file stays when this process closes its copy.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSocketActivation$")
	cmd.Env = append(os.Environ(), "MDS_TEST_ACTIVATED=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l.Close()
	defer func() {
		_ = cmd.Process.Signal(unix.SIGTERM)
		_ = cmd.Wait()
	}()
	c := mdsclient.NewClient(socket)
	var port int
	deadline := time.Now().Add(10 * time.Second)
	for {
		port, err = c.Register(t.Context(), uuidA, tokenA, []byte(podManifest("web")), nil)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || port == 0 {
		t.Fatalf("register through the activated socket: %d %v", port, err)
	}
}
