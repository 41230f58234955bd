package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/testutil"
)

// featureImage writes an OCI layout of busybox (plus the tty and stty
// applets) and the extra layers, with cfg, and returns its oci: reference.
func featureImage(t *testing.T, cfg v1.Config, extra ...v1.Layer) string {
	t.Helper()
	entries := append(testutil.BusyboxEntries(t), testutil.Symlink("bin/tty", "busybox"), testutil.Symlink("bin/stty", "busybox"))
	if cfg.Env == nil {
		cfg.Env = []string{testutil.DefaultPathEnv}
	}
	img := testutil.Image(t, cfg, append([]v1.Layer{testutil.Layer(t, entries, "gzip")}, extra...)...)
	dir := filepath.Join(t.TempDir(), "img")
	testutil.WriteOCILayout(t, dir, img, "latest")
	return "oci:" + dir + ":latest"
}

// openPty allocates a pseudo-terminal pair through /dev/ptmx.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(); _ = s.Close() })
	return m, s
}

// lockedBuf collects a reader's output for concurrent inspection.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunInteractivePty runs a shell with --interactive on a real pty that
// is rkt's controlling terminal: the app must see a terminal on stdin, with
// the window size set on the pty, and rkt must exit with the shell's code.
func TestRunInteractivePty(t *testing.T) {
	e := newEnv(t)
	requireStage1(t)
	t.Cleanup(func() { cleanPods(t, e) })
	img := featureImage(t, v1.Config{})
	t.Parallel()
	master, slave := openPty(t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 111}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rktTimeout)
	defer cancel()
	args := append(e.globalFlags(), insecureImage, "run", "--interactive", "--net=host", img, "--exec=/bin/sh")
	cmd := exec.CommandContext(ctx, rktBinary, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.home
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out lockedBuf
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, master) // ends with EIO once every slave fd is closed
		close(copied)
	}()
	if _, err := master.WriteString("tty; stty size; echo $((6*7)); exit 3\n"); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	got := strings.ReplaceAll(out.String(), "\r", "")
	t.Logf("output:\n%s", got)
	if code != 3 {
		t.Errorf("rkt exited %d, want 3 (the shell's exit)\noutput:\n%s", code, got)
	}
	if !regexp.MustCompile(`(?m)^(/dev/console|/dev/pts/\d+)$`).MatchString(got) {
		t.Errorf("tty in the app did not print a terminal:\n%s", got)
	}
	if !regexp.MustCompile(`(?m)^33 111$`).MatchString(got) {
		t.Errorf("stty size in the app did not print the pty's size 33 111:\n%s", got)
	}
	if !regexp.MustCompile(`(?m)^42$`).MatchString(got) {
		t.Errorf("the shell did not print 42:\n%s", got)
	}
}

// TestRunStdinIsNull: without --interactive an app's stdin is /dev/null,
// whatever rkt's stdin is: cat exits at once even though rkt's stdin is a
// pipe nobody closes.
func TestRunStdinIsNull(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd, stdout, stderr, cancel := rktCommand(e, append(e.globalFlags(), insecureImage, "run", "--net=host", img, "--exec=/bin/sh", "--", "-c", "cat; readlink /proc/self/fd/0")...)
	defer cancel()
	cmd.Stdin = r
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("rkt run: %v\n%s", err, stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cat in the app waited on rkt's stdin")
	}
	if got := strings.TrimSpace(stdout.String()); got != "/dev/null" {
		t.Errorf("the app's stdin is %q, want /dev/null", got)
	}
}

// catEtc runs the image with extra run flags and returns what the app
// sees in /etc/resolv.conf and /etc/hosts (each "(missing)" when absent).
func catEtc(t *testing.T, e *env, img string, flags ...string) (resolv, hosts string) {
	t.Helper()
	args := append(append([]string{insecureImage, "run"}, flags...), img, "--exec=/bin/sh", "--", "-c",
		`cat /etc/resolv.conf 2>/dev/null || echo "(missing)"; echo ----; cat /etc/hosts 2>/dev/null || echo "(missing)"`)
	out := rkt(t, e, args...).ok(t).stdout
	resolv, hosts, ok := strings.Cut(out, "----\n")
	if !ok {
		t.Fatalf("unexpected output %q", out)
	}
	return resolv, hosts
}

// TestRunDNSAndHosts checks rkt's --dns* and --hosts-entry rules inside
// the app, against an image with its own /etc/resolv.conf and /etc/hosts.
func TestRunDNSAndHosts(t *testing.T) {
	e := newEnv(t)
	requireStage1(t)
	t.Cleanup(func() { cleanPods(t, e) })
	imageFiles := testutil.Layer(t, []testutil.TarEntry{
		testutil.File("etc/resolv.conf", 0o644, "nameserver 10.9.9.9 # image\n"),
		testutil.File("etc/hosts", 0o644, "10.9.9.9\timage-host\n"),
	}, "gzip")
	withFiles := featureImage(t, v1.Config{}, imageFiles)
	bare := featureImage(t, v1.Config{})
	t.Parallel()
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	hostHosts, _ := os.ReadFile("/etc/hosts")

	// Generated resolv.conf: rkt's header and order.
	r, h := catEtc(t, e, withFiles, "--net=none", "--dns=8.8.8.8", "--dns=1.1.1.1", "--dns-search=a.example",
		"--dns-search=b.example", "--dns-opt=ndots:3", "--dns-opt=debug", "--dns-domain=example.org", "--hostname=pod1")
	want := "# Generated by rkt run\nsearch a.example b.example\nnameserver 8.8.8.8\nnameserver 1.1.1.1\noptions ndots:3 debug\ndomain example.org\n"
	if r != want {
		t.Errorf("--dns: resolv.conf = %q, want %q", r, want)
	}
	if h != "10.9.9.9\timage-host\n" {
		t.Errorf("without --hosts-entry the image's /etc/hosts wins over the generated one: %q", h)
	}

	// --dns=host: the host's file; --dns=none: the image's.
	if r, _ := catEtc(t, e, withFiles, "--net=none", "--dns=host"); len(hostResolv) > 0 && r != string(hostResolv) {
		t.Errorf("--dns=host: resolv.conf = %q, want the host's %q", r, hostResolv)
	}
	if r, _ := catEtc(t, e, withFiles, "--net=host", "--dns=none"); r != "nameserver 10.9.9.9 # image\n" {
		t.Errorf("--dns=none: resolv.conf = %q, want the image's", r)
	}
	// Default: the host's with --net=host, the image's (or none) with
	// --net=none.
	if r, _ := catEtc(t, e, bare, "--net=none"); r != "(missing)\n" {
		t.Errorf("default, --net=none, no image file: resolv.conf = %q", r)
	}

	// --hosts-entry: appended to the generated defaults (which name the
	// hostname), over the image's file.
	_, h = catEtc(t, e, withFiles, "--net=none", "--hostname=pod2", "--hosts-entry=10.0.0.1=db,db.local", "--hosts-entry=10.0.0.2=cache")
	for _, l := range []string{"127.0.0.1\tlocalhost", "::1\tlocalhost", "127.0.0.1\tpod2\n10.0.0.1\tdb db.local\n10.0.0.2\tcache\n"} {
		if !strings.Contains(h, l) {
			t.Errorf("--hosts-entry: /etc/hosts lacks %q:\n%s", l, h)
		}
	}
	if strings.Contains(h, "image-host") {
		t.Errorf("--hosts-entry: the image's /etc/hosts was used:\n%s", h)
	}
	// More entries than one argument of pod init could carry (128 KiB):
	// the configuration goes to pod init through a file.
	many := []string{"--net=none"}
	for i := range 3000 {
		many = append(many, fmt.Sprintf("--hosts-entry=10.1.%d.%d=host-number-%d.example.internal", i/250, i%250+1, i))
	}
	if _, h := catEtc(t, e, withFiles, many...); len(h) < 128<<10 || !strings.HasSuffix(h, "10.1.11.250\thost-number-2999.example.internal\n") {
		t.Errorf("3000 --hosts-entry flags: /etc/hosts has %d bytes, ending %q", len(h), h[max(0, len(h)-80):])
	}
	// No flag and no image file: the generated fallback.
	if _, h := catEtc(t, e, bare, "--net=none", "--hostname=pod3"); !strings.HasSuffix(h, "127.0.0.1\tpod3\n") {
		t.Errorf("generated /etc/hosts:\n%s", h)
	}
	// --hosts-entry=host: the host's file.
	if _, h := catEtc(t, e, withFiles, "--net=none", "--hosts-entry=host"); len(hostHosts) > 0 && h != string(hostHosts) {
		t.Errorf("--hosts-entry=host: /etc/hosts = %q, want the host's", h)
	}

	// A volume on /etc/hosts wins over the image's file, a flag over the
	// volume.
	volFile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(volFile, []byte("10.7.7.7\tfrom-volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := []string{"--volume=h,kind=host,source=" + volFile, "--mount=volume=h,target=/etc/hosts"}
	if _, h := catEtc(t, e, withFiles, append([]string{"--net=none"}, vol...)...); h != "10.7.7.7\tfrom-volume\n" {
		t.Errorf("volume on /etc/hosts: %q", h)
	}
	if _, h := catEtc(t, e, withFiles, append([]string{"--net=none", "--hosts-entry=10.0.0.3=flag"}, vol...)...); !strings.Contains(h, "10.0.0.3\tflag\n") || strings.Contains(h, "from-volume") {
		t.Errorf("flag over a volume on /etc/hosts: %q", h)
	}

	// run-prepared takes the flags too.
	uuid := strings.TrimSpace(rkt(t, e, insecureImage, "prepare", "--quiet", withFiles, "--exec=/bin/cat", "--", "/etc/resolv.conf").ok(t).stdout)
	if out := rkt(t, e, "run-prepared", "--net=none", "--dns=9.9.9.9", uuid).ok(t).stdout; out != "# Generated by rkt run\nnameserver 9.9.9.9\n" {
		t.Errorf("run-prepared --dns: %q", out)
	}

	// Bad values make no pod.
	for _, bad := range [][]string{{"--dns=host", "--dns=8.8.8.8"}, {"--dns=nope"}, {"--hosts-entry=1.2.3.4"}, {"--hosts-entry=x=y"}, {"--dns=none", "--dns-search=x"}} {
		r := rkt(t, e, append(append([]string{insecureImage, "run", "--net=none"}, bad...), bare)...)
		if r.code != 254 || !strings.Contains(r.stderr, strings.TrimPrefix(strings.SplitN(bad[len(bad)-1], "=", 2)[0], "--")) {
			t.Errorf("%v: want exit 254 naming the flag:\n%s", bad, r)
		}
	}
}

// TestRunImageVolumeCopyUp: an OCI image volume with content becomes an
// implicit empty volume filled with the image's content (docker's
// copy-up), writable by the app; a --volume of the mount point's name
// replaces it, without any copy.
func TestRunImageVolumeCopyUp(t *testing.T) {
	e := newEnv(t)
	requireStage1(t)
	t.Cleanup(func() { cleanPods(t, e) })
	seed := testutil.Layer(t, []testutil.TarEntry{
		{Name: "data/", Type: '5', Mode: 0o750, Uid: 1234, Gid: 4321},
		{Name: "data/seed.txt", Type: '0', Mode: 0o640, Uid: 42, Gid: 43, Body: []byte("seeded\n")},
		testutil.Symlink("data/link", "/etc/passwd"),
	}, "gzip")
	img := featureImage(t, v1.Config{Volumes: map[string]struct{}{"/data": {}}}, seed)
	t.Parallel()
	uuidFile := filepath.Join(e.home, "uuid")
	out := rkt(t, e, insecureImage, "run", "--net=none", "--uuid-file-save="+uuidFile, img, "--exec=/bin/sh", "--", "-c",
		`cat /data/seed.txt && stat -c '%a %u:%g' /data /data/seed.txt && readlink /data/link && echo new > /data/new && grep -c " /data " /proc/self/mounts`).ok(t).stdout
	want := "seeded\n750 1234:4321\n640 42:43\n/etc/passwd\n1\n"
	if out != want {
		t.Errorf("app saw:\n%s\nwant:\n%s", out, want)
	}
	uuid := readUUID(t, uuidFile)
	volDir := filepath.Join(e.dir, "pods", "exited-garbage", uuid, "sharedVolumes", "volume-data")
	if !fileExists(volDir) {
		volDir = filepath.Join(e.dir, "pods", "run", uuid, "sharedVolumes", "volume-data")
	}
	if b, err := os.ReadFile(filepath.Join(volDir, "new")); err != nil || string(b) != "new\n" {
		t.Errorf("the app's write is not in the pod's volume %s: %q %v", volDir, b, err)
	}

	// A host volume named like the mount point is used instead.
	host := t.TempDir()
	out = rkt(t, e, insecureImage, "run", "--net=none", "--volume=volume-data,kind=host,source="+host, img, "--exec=/bin/sh", "--", "-c",
		`ls -A /data; echo hi > /data/from-app`).ok(t).stdout
	if out != "" {
		t.Errorf("the host volume was not empty in the app: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(host, "from-app")); err != nil || string(b) != "hi\n" {
		t.Errorf("the app's write is not in the host dir: %q %v", b, err)
	}
	if fileExists(filepath.Join(host, "seed.txt")) {
		t.Error("copy-up into a host volume")
	}
}

// TestRunOverlayVolatile: the app's overlay rootfs is mounted volatile, so
// that its unmount when the pod exits does not sync the host's file system
// (kernels before 5.10 lack the option and get a plain overlay); the app's
// writes still land in the upper dir, which export reads.
func TestRunOverlayVolatile(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(uts.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", uts.Release[:], err)
	}
	if major < 5 || major == 5 && minor < 10 {
		t.Skipf("kernel %d.%d has no volatile overlays (5.10 and later do)", major, minor)
	}
	uuidFile := filepath.Join(e.home, "uuid")
	out := rkt(t, e, insecureImage, "run", "--net=none", "--uuid-file-save="+uuidFile, img, "--exec=/bin/sh", "--", "-c",
		`echo written > /root/f && awk '$2 == "/" {print $3, $4}' /proc/self/mounts`).ok(t).stdout
	// Newer kernels show the option as fsync=volatile.
	opts := strings.Split(strings.Fields(out + " - -")[1], ",")
	if !strings.HasPrefix(out, "overlay ") || !slices.Contains(opts, "volatile") && !slices.Contains(opts, "fsync=volatile") {
		t.Errorf("the rootfs is not a volatile overlay: %q", out)
	}
	uuid := readUUID(t, uuidFile)
	found := false
	for _, st := range []string{"exited-garbage", "run"} {
		b, err := os.ReadFile(filepath.Join(e.dir, "pods", st, uuid, "overlay", "busybox", "upper", "root", "f"))
		found = found || err == nil && string(b) == "written\n"
	}
	if !found {
		t.Error("the app's write is not in its upper dir")
	}
}

// TestRunNoOverlay: with --no-overlay the app's rootfs is a rendered copy
// in stage2/<app>/rootfs, where the app's writes land.
func TestRunNoOverlay(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	uuidFile := filepath.Join(e.home, "uuid")
	out := rkt(t, e, insecureImage, "run", "--net=none", "--no-overlay", "--uuid-file-save="+uuidFile, img, "--exec=/bin/sh", "--", "-c",
		`echo written > /root/f && awk '$2 == "/" {print $3}' /proc/self/mounts`).ok(t).stdout
	if strings.Contains(out, "overlay") {
		t.Errorf("the rootfs is an overlay with --no-overlay: %q", out)
	}
	uuid := readUUID(t, uuidFile)
	var podDir string
	for _, st := range []string{"exited-garbage", "run"} {
		if d := filepath.Join(e.dir, "pods", st, uuid); fileExists(d) {
			podDir = d
		}
	}
	if b, err := os.ReadFile(filepath.Join(podDir, "stage2", "busybox", "rootfs", "root", "f")); err != nil || string(b) != "written\n" {
		t.Errorf("the write is not in stage2/busybox/rootfs: %q %v", b, err)
	}
	if !fileExists(filepath.Join(podDir, "appsinfo", "busybox", "no-overlay")) {
		t.Error("no appsinfo/busybox/no-overlay marker")
	}
	// prepare takes it too.
	uuid = strings.TrimSpace(rkt(t, e, insecureImage, "prepare", "--quiet", "--no-overlay", img, "--exec=/bin/true").ok(t).stdout)
	rkt(t, e, "run-prepared", "--net=none", uuid).ok(t)
}

// TestRunExecDiagnosticsAndWorkdir: a file that cannot be executed is
// named in a clear error; a missing working directory is created.
func TestRunExecDiagnosticsAndWorkdir(t *testing.T) {
	e := newEnv(t)
	requireStage1(t)
	t.Cleanup(func() { cleanPods(t, e) })
	extra := testutil.Layer(t, []testutil.TarEntry{
		testutil.File("bin/noexec", 0o644, "#!/bin/sh\necho no\n"),
		testutil.File("bin/badinterp", 0o755, string(fakeELFWithInterp("/lib/ld-missing.so.2"))),
	}, "gzip")
	img := featureImage(t, v1.Config{WorkingDir: "/srv/app"}, extra)
	t.Parallel()
	r := rkt(t, e, insecureImage, "run", "--net=none", img, "--exec=/bin/noexec")
	if r.code == 0 || !strings.Contains(r.stderr, `Error: Unable to open "/bin/noexec": Permission denied`) {
		t.Errorf("exec of a non-executable file:\n%s", r)
	}
	r = rkt(t, e, insecureImage, "run", "--net=none", img, "--exec=/bin/badinterp")
	if r.code == 0 || !strings.Contains(r.stderr, `Error: Unable to open "/bin/badinterp"`) || !strings.Contains(r.stderr, "/lib/ld-missing.so.2") {
		t.Errorf("exec of a file without its ELF interpreter:\n%s", r)
	}
	out := rkt(t, e, insecureImage, "run", "--net=none", img, "--exec=/bin/pwd").ok(t).stdout
	if out != "/srv/app\n" {
		t.Errorf("pwd in a missing working directory = %q", out)
	}
	// A working directory through /proc magic links is refused.
	r = rkt(t, e, insecureImage, "run", "--net=none", img, "--working-dir=/proc/self/fd/1", "--exec=/bin/pwd")
	if r.code != 254 || !strings.Contains(r.stderr, "working directory") {
		t.Errorf("working directory through /proc/self/fd:\n%s", r)
	}
}

// fakeELFWithInterp is a minimal 64-bit ELF executable header with one
// PT_INTERP program header naming interp.
func fakeELFWithInterp(interp string) []byte {
	const ehsize, phsize = 64, 56
	b := make([]byte, ehsize+phsize)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // 64-bit, little endian, version 1
	le16 := func(o int, v uint16) { b[o], b[o+1] = byte(v), byte(v>>8) }
	le64 := func(o int, v uint64) {
		for i := range 8 {
			b[o+i] = byte(v >> (8 * i))
		}
	}
	machine := uint16(62) // x86-64
	if runtime.GOARCH == "arm64" {
		machine = 183
	}
	le16(16, 2) // ET_EXEC
	le16(18, machine)
	b[20] = 1
	le64(24, 0x400000) // entry
	le64(32, ehsize)   // phoff
	le16(52, ehsize)
	le16(54, phsize)
	le16(56, 1) // phnum
	ph := ehsize
	b[ph] = 3 // PT_INTERP
	le64(ph+8, uint64(len(b)))
	le64(ph+32, uint64(len(interp)+1))
	le64(ph+40, uint64(len(interp)+1))
	return append(b, append([]byte(interp), 0)...)
}

// TestRunDevNodes: the basic device nodes are copies of the host's (type,
// numbers, mode, owner), made in the app's /dev rather than bound there,
// and they work.
func TestRunDevNodes(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	names := []string{"null", "zero", "full", "random", "urandom", "tty"}
	script := `for d in ` + strings.Join(names, " ") + `; do stat -c "$d %F %t:%T %a %u:%g" /dev/$d; done
grep -c ' /dev/\(null\|zero\|full\|random\|urandom\|tty\) ' /proc/self/mountinfo
echo x > /dev/null && head -c 3 /dev/zero | od -An -tx1 && head -c 5 /dev/urandom | wc -c`
	out := rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/sh", "--", "-c", script).ok(t).stdout
	for _, d := range names {
		var st unix.Stat_t
		if err := unix.Stat("/dev/"+d, &st); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s character special file %x:%x %o %d:%d\n", d, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Mode&0o7777, st.Uid, st.Gid)
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n0\n 00 00 00\n5\n") {
		t.Errorf("the nodes are mounts, or do not work:\n%s", out)
	}
}

// TestTreesSpreadOverBlockGroups: on ext4, the directories pods and
// rendered layers are made in carry FS_TOPDIR_FL, so that each tree gets a
// block group of its own.
func TestTreesSpreadOverBlockGroups(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/true").ok(t)
	var sfs unix.Statfs_t
	if err := unix.Statfs(e.dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("%s is not on ext4 (file system type %#x): the flag is ext4's", e.dir, sfs.Type)
	}
	const fsTopdirFL = 0x00020000 // FS_TOPDIR_FL, include/uapi/linux/fs.h
	for _, dir := range []string{filepath.Join(e.dir, "pods", "embryo"), filepath.Join(e.store(), "tmp")} {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("%s: inode flags: %v", dir, err)
		}
		if flags&fsTopdirFL == 0 {
			t.Errorf("%s lacks FS_TOPDIR_FL (flags %#x)", dir, flags)
		}
	}
}
