package mds

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/mds/mdsclient"
)

// listenFDsStart is the first socket-activated file descriptor
// (sd_listen_fds(3)).
const listenFDsStart = 3

// Options configure Serve.
type Options struct {
	// Port is the public API's TCP port (mdsclient.DefaultPort); 0 picks a free one.
	Port int
	// Socket is the registration socket (mdsclient.DefaultSocket). It is ignored
	// when the service is socket-activated (LISTEN_FDS).
	Socket string
	// Logf gets the service's log lines.
	Logf func(format string, args ...any)
}

// Serve runs the metadata service until ctx is done: the registration API
// on the unix socket (or on the socket-activated fd 3), the public API on
// TCP port opts.Port of every address.
func Serve(ctx context.Context, opts Options) error {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	unixL, err := registrationListener(ctx, opts.Socket)
	if err != nil {
		return err
	}
	defer unixL.Close()
	// Every address: pods reach the service through their network's
	// host address, which differs per network. The token guards every
	// answer.
	var lc net.ListenConfig
	tcpL, err := lc.Listen(ctx, "tcp", ":"+strconv.Itoa(opts.Port))
	if err != nil {
		return fmt.Errorf("metadata service: listening on port %d: %w", opts.Port, err)
	}
	defer tcpL.Close()
	port := tcpL.Addr().(*net.TCPAddr).Port
	svc, err := NewService(port, logf)
	if err != nil {
		return err
	}
	servers := []*http.Server{newServer(svc.RegistrationHandler()), newServer(svc.PublicHandler())}
	listeners := []net.Listener{rootOnly{unixL.(*net.UnixListener)}, tcpL}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	logf("metadata service: registration on %s, pods on port %d", unixL.Addr(), port)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
		err = fmt.Errorf("metadata service: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	logf("metadata service: exiting")
	return err
}

// newServer bounds what one client may cost: headers, time, idle
// connections.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// registrationListener is the socket-activated listener when LISTEN_FDS
// (for this process, LISTEN_PID) says there is one, else a new unix
// socket at path that only root may connect to. A socket left by a
// service that died is replaced; one a live service answers on is not.
func registrationListener(ctx context.Context, path string) (net.Listener, error) {
	if n := os.Getenv("LISTEN_FDS"); n != "" {
		if pid := os.Getenv("LISTEN_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			return activatedListener(n)
		}
	}
	if path == "" {
		path = mdsclient.DefaultSocket
	}
	if !filepath.IsAbs(path) {
		return nil, errdefs.InvalidArgument(fmt.Errorf("metadata service: socket path %q is not absolute", path))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // G301: /run/rkt is rkt's runtime directory, 0755 as in rkt 1.x
		return nil, fmt.Errorf("metadata service: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("metadata service: %s exists and is not a socket", path)
		}
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "unix", path); err == nil {
			_ = c.Close()
			return nil, errdefs.WithKind(errdefs.KindAlreadyExists, fmt.Errorf("metadata service: one is already running on %s", path))
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("metadata service: removing the stale socket: %w", err)
		}
	}
	old := unix.Umask(0o177)
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("metadata service: %w", err)
	}
	return l, nil
}

// activatedListener takes the socket of fd 3 (systemd socket activation).
func activatedListener(n string) (net.Listener, error) {
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return nil, fmt.Errorf("metadata service: LISTEN_FDS=%q: want a number of sockets, at least 1", n)
	}
	_ = os.Unsetenv("LISTEN_FDS")
	_ = os.Unsetenv("LISTEN_PID")
	_ = os.Unsetenv("LISTEN_FDNAMES")
	f := os.NewFile(listenFDsStart, "LISTEN_FDS")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("metadata service: socket-activated fd %d: %w", listenFDsStart, err)
	}
	if _, ok := l.(*net.UnixListener); !ok {
		_ = l.Close()
		return nil, fmt.Errorf("metadata service: socket-activated fd %d is not a unix socket", listenFDsStart)
	}
	return l, nil
}

// rootOnly accepts connections only from root, or from this process's
// own user, whatever the socket's mode: registering a pod is rkt run's.
type rootOnly struct{ *net.UnixListener }

func (l rootOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if peerAllowed(c) {
			return c, nil
		}
		_ = c.Close()
	}
}

func peerAllowed(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
}
