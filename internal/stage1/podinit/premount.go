package podinit

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/mount"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// MountsFD is the descriptor on which pod init receives the apps'
// overlays, made for it by the run process while pod init's runtime
// starts: mounting an overlay (its work dir is checked and prepared on
// every mount) is the longest step of pod init's setup, and the run
// process only waits then.
const MountsFD = 4

// maxPremade bounds what pod init accepts on MountsFD.
const maxPremade = 1024

// SendOverlays makes the overlay rootfs of each app of the pod (cwd is
// the pod dir) that pod init would mount one for, as a detached mount
// (fsmount), and sends it on sock with the app's name; then it closes
// sock, which tells pod init that nothing more comes. An app whose
// overlay it cannot make is left out, with a note to debugf: pod init
// mounts that one itself, and reports the error if it has one. Apps in a
// user namespace of their own (--private-users) and apps without an
// overlay (--no-overlay) are pod init's own work.
func SendOverlays(sock int, cfg Config, debugf func(string, ...any)) error {
	defer unix.Close(sock)
	if cfg.UsernsSize > 0 {
		return nil
	}
	ents, err := os.ReadDir(abi.AppsInfo)
	if err != nil {
		return fmt.Errorf("premade overlays: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if validName(name) != nil || !e.IsDir() {
			continue
		}
		dir := abi.AppsInfo + "/" + name + "/"
		if _, err := os.Lstat(dir + abi.AppNoOverlay); err == nil {
			continue
		}
		ld, err := os.ReadFile(dir + abi.AppLayers)
		if err != nil {
			debugf("app %q: no premade overlay: %v", name, err)
			continue
		}
		fd, err := makeOverlay(name, ParseLayers(string(ld)))
		if err != nil {
			debugf("app %q: no premade overlay: %v", name, err)
			continue
		}
		err = unix.Sendmsg(sock, []byte(name), unix.UnixRights(fd), nil, unix.MSG_NOSIGNAL)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("premade overlays: sending app %q's: %w", name, err)
		}
	}
	return nil
}

// makeOverlay makes the overlay that mountOverlay would mount for app
// name, detached. Its layers go one by one ("lowerdir+", Linux 6.8), or
// all at once when they fit fsconfig's 256 bytes; without syncs when the
// kernel has the option (volatile, Linux 5.10), as mountOverlay.
func makeOverlay(name string, layers []string) (int, error) {
	lower, err := lowerLayers(layers)
	if err != nil {
		return -1, err
	}
	upper, work := overlayDirs(name)
	dirs := []mount.Option{{Key: "source", Value: "overlay"}, {Key: "upperdir", Value: upper}, {Key: "workdir", Value: work}}
	perLayer := make([]mount.Option, 0, len(lower)+len(dirs))
	for _, l := range lower {
		perLayer = append(perLayer, mount.Option{Key: "lowerdir+", Value: l})
	}
	variants := [][]mount.Option{append(perLayer, dirs...)}
	if all := strings.Join(lower, ":"); len(all) <= 255 {
		variants = append(variants, append([]mount.Option{{Key: "lowerdir", Value: all}}, dirs...))
	}
	// The kernel refuses what it does not know with EINVAL: the next
	// variant then.
	volatile := mount.Option{Key: "volatile"}
	for _, opts := range variants {
		for _, o := range [][]mount.Option{append(opts[:len(opts):len(opts)], volatile), opts} {
			fd, ferr := mount.NewFS("overlay", o, 0)
			if ferr == nil || !errors.Is(ferr, unix.EINVAL) {
				return fd, ferr
			}
			err = ferr
		}
	}
	return -1, err
}

// mountsSocket returns MountsFD when pod init was started with the
// socket there (the run process always does), else -1. It runs first
// thing, before pod init opens anything that could take the number.
func mountsSocket() int {
	var st unix.Stat_t
	if err := unix.Fstat(MountsFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return -1
	}
	// Nothing pod init starts before it has read the overlays (the
	// --private-users helper) gets the socket.
	unix.CloseOnExec(MountsFD)
	return MountsFD
}

// receiveOverlays reads the overlays the run process sends on sock (see
// mountsSocket) until it closes its end, and closes sock: app name ->
// detached mount (close-on-exec). On an error it returns what it got:
// pod init mounts the rest itself.
func receiveOverlays(sock int, debugf func(string, ...any)) map[string]int {
	got := map[string]int{}
	if sock < 0 {
		return got
	}
	defer unix.Close(sock)
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	for len(got) < maxPremade {
		n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			debugf("premade overlays: %v", err)
			break
		}
		if n == 0 && oobn == 0 {
			break // the run process is done
		}
		fds := receivedFDs(oob[:oobn])
		name := string(buf[:n])
		if _, dup := got[name]; dup || len(fds) != 1 || validName(name) != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			continue
		}
		got[name] = fds[0]
	}
	return got
}

func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

// attachOverlay attaches a premade overlay at p.Rootfs and closes it.
func attachOverlay(p AppPlan, fd int) error {
	defer unix.Close(fd)
	if err := mount.AttachAt(fd, p.Rootfs); err != nil {
		return fmt.Errorf("app %q: its overlay: %w", p.Name, err)
	}
	return nil
}
