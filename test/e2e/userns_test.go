package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestPrivateUsers: with --private-users root in the app is an
// unprivileged range of host IDs, recorded per pod so concurrent pods get
// different ones and freed by gc; the image's files and the volumes are
// seen through idmapped mounts (owned by root inside, unchanged on the
// host); what the app writes in its rootfs belongs to its range; the
// isolation defaults stay; enter gets the same mapping; --no-overlay too.
func TestPrivateUsers(t *testing.T) {
	e, img := podEnv(t)
	t.Parallel()
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "host-file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `cat /proc/self/uid_map; ls -ln /bin/busybox /vol/host-file; touch /made-here /vol/made-inside && echo wrote;
grep -E '^(CapBnd|Seccomp):' /proc/self/status; id -u`
	uuidFile := filepath.Join(e.home, "uuid")
	r := rkt(t, e, insecureImage, "run", "--net=host", "--private-users", "--uuid-file-save="+uuidFile,
		"--volume=vol,kind=host,source="+vol, img, "--mount=volume=vol,target=/vol", "--exec=/bin/sh", "--", "-c", script).ok(t)
	uuid := readUUID(t, uuidFile)
	f := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0])
	if len(f) != 3 || f[0] != "0" || f[2] != "65536" {
		t.Fatalf("uid_map: %q", r.stdout)
	}
	shift, _ := strconv.Atoi(f[1])
	if shift < 65536 || shift%65536 != 0 {
		t.Errorf("shift %d is not a multiple of 65536 above the host's users", shift)
	}
	for _, want := range []string{" 0        0 ", "wrote", "CapBnd:\t00000000a80425fb", "Seccomp:\t2", "\n0\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q in:\n%s", want, r.stdout)
		}
	}
	// On the host: the volume's new file is root's (idmapped), the
	// rootfs's belongs to the pod's range, the record names the pod.
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "made-inside"), &st); err != nil || st.Uid != 0 {
		t.Errorf("file made in the volume: uid %d, %v", st.Uid, err)
	}
	upper := filepath.Join(e.dir, "pods", "run", uuid, "overlay", "busybox", "upper", "made-here")
	if err := syscall.Stat(upper, &st); err != nil || int(st.Uid) != shift {
		t.Errorf("file made in the rootfs: uid %d (want %d), %v", st.Uid, shift, err)
	}
	if rec := readFile(t, filepath.Join(e.dir, "userns", strconv.Itoa(shift))); rec != uuid {
		t.Errorf("range record %q, want %s", rec, uuid)
	}

	// Two pods at once get different ranges; enter shares the app's.
	var pods [2]*bgPod
	for i := range pods {
		pods[i] = startPod(t, e, []string{insecureImage}, "--net=host", "--private-users", img, "--exec=/bin/sleep", "--", "30")
	}
	maps := [2]string{}
	for i, p := range pods {
		maps[i] = rkt(t, e, "enter", p.uuid, "/bin/cat", "/proc/self/uid_map").ok(t).stdout
		rec := readFile(t, filepath.Join(e.dir, "pods", "run", p.uuid, "userns"))
		shift, _, _ := strings.Cut(rec, ":")
		if f := strings.Fields(maps[i]); len(f) != 3 || f[0] != "0" || f[1] != shift || f[2] != "65536" {
			t.Errorf("pod %s: entered command's uid_map %q, record %q", p.uuid, maps[i], rec)
		}
	}
	if maps[0] == maps[1] {
		t.Errorf("two pods share a range: %q", maps[0])
	}
	for _, p := range pods {
		rkt(t, e, "stop", p.uuid).ok(t)
		_ = p.cmd.Wait()
	}

	r = rkt(t, e, insecureImage, "run", "--net=host", "--private-users", "--no-overlay", img, "--exec=/bin/sh", "--", "-c",
		"ls -ln /bin/busybox; touch /x && echo wrote").ok(t)
	if !strings.Contains(r.stdout, " 0        0 ") || !strings.Contains(r.stdout, "wrote") {
		t.Errorf("--no-overlay:\n%s", r.stdout)
	}
	// The helper that starts the app in its namespace gets the app's
	// specification on a file: an environment larger than one argument
	// may be (128 KiB) reaches the app.
	big := strings.Repeat("a", 70000)
	r = rkt(t, e, insecureImage, "run", "--net=host", "--private-users", "--set-env=BIG1="+big, "--set-env=BIG2="+big, img,
		"--exec=/bin/sh", "--", "-c", `echo "${#BIG1} ${#BIG2}"`).ok(t)
	if strings.TrimSpace(r.stdout) != "70000 70000" {
		t.Errorf("140 KB of environment: the app saw lengths %q", strings.TrimSpace(r.stdout))
	}
	rkt(t, e, "gc", "--grace-period=0s").ok(t)
	if left, _ := os.ReadDir(filepath.Join(e.dir, "userns")); len(left) != 0 {
		t.Errorf("ranges left after gc: %v", left)
	}
}
