package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/testutil"
)

// The network tests change the host's network (links, addresses, iptables
// rules, IPAM records): none of them runs in parallel with another, so
// that the leak check sees only its own pods.

// netEnv is a pod environment for network tests: root, the stage1 image,
// ip and iptables.
func netEnv(t *testing.T) (*env, string) {
	t.Helper()
	e, img := podEnv(t)
	for _, tool := range []string{"ip", "iptables", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make test-deps installs it): %v", tool, err)
		}
	}
	return e, img
}

// sh runs a host command and returns its combined output.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// remoteHost is a network namespace with an address of its own on a veth
// to the host, standing for a host elsewhere: it has no route back to the
// pods' networks, so only masqueraded traffic gets answers.
type remoteHost struct {
	ns, hostIP, ip string
}

func newRemote(t *testing.T, subnet int) *remoteHost {
	t.Helper()
	id := randHex(3)
	r := &remoteHost{ns: "rkt-e2e-" + id, hostIP: fmt.Sprintf("10.199.%d.1", subnet), ip: fmt.Sprintf("10.199.%d.2", subnet)}
	hostVeth := "rktr" + id
	sh(t, "ip", "netns", "add", r.ns)
	t.Cleanup(func() {
		_ = exec.CommandContext(context.Background(), "ip", "netns", "del", r.ns).Run()
		_ = exec.CommandContext(context.Background(), "ip", "link", "del", hostVeth).Run()
	})
	sh(t, "ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", r.ns)
	sh(t, "ip", "addr", "add", r.hostIP+"/24", "dev", hostVeth)
	sh(t, "ip", "link", "set", hostVeth, "up")
	sh(t, "ip", "-n", r.ns, "addr", "add", r.ip+"/24", "dev", "eth0")
	sh(t, "ip", "-n", r.ns, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", r.ns, "link", "set", "lo", "up")
	return r
}

// serve runs busybox httpd in the remote namespace, serving a file named
// "id" that holds content.
func (r *remoteHost) serve(t *testing.T, port int, content string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "id"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), "ip", "netns", "exec", r.ns, "busybox", "httpd", "-f", "-p", fmt.Sprintf("%s:%d", r.ip, port), "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitHTTP(t, []string{"ip", "netns", "exec", r.ns}, fmt.Sprintf("%s:%d", r.ip, port), "/id", content)
}

// waitHTTP asks host:port for path over HTTP/1.0 with busybox nc (its wget
// crashes on the host, in glibc's NSS), the command prefixed by one that
// puts it somewhere, until the answer carries content, for up to 10 s.
func waitHTTP(t *testing.T, prefix []string, hostPort, path, content string) {
	t.Helper()
	host, port, _ := strings.Cut(hostPort, ":")
	args := append(append([]string{}, prefix...), "busybox", "nc", "-w", "2", host, port)
	var out []byte
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		cmd := exec.CommandContext(context.Background(), args[0], args[1:]...)
		cmd.Stdin = strings.NewReader("GET " + path + " HTTP/1.0\r\n\r\n")
		out, err = cmd.CombinedOutput()
		if err == nil && strings.HasSuffix(strings.TrimSpace(string(out)), "\n"+content) {
			return
		}
	}
	t.Fatalf("%s, GET %s: %v: %q, want %q", strings.Join(args, " "), path, err, out, content)
}

// httpGet is a shell command line that asks ipPort for path over HTTP/1.0
// with busybox nc (busybox's wget crashes, in glibc's NSS).
func httpGet(ipPort, path string) string {
	ip, port, _ := strings.Cut(ipPort, ":")
	return "printf 'GET " + path + " HTTP/1.0\\r\\n\\r\\n' | nc -w 3 " + ip + " " + port
}

var netsRE = regexp.MustCompile(`(?m)^networks=(.*)$`)

// podIP is the pod's address on a network, from rkt status.
func podIP(t *testing.T, e *env, uuid, net string) string {
	t.Helper()
	st := rkt(t, e, "status", uuid).ok(t).stdout
	m := netsRE.FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("no networks= in status:\n%s", st)
	}
	for _, n := range strings.Split(m[1], ", ") {
		if ip, ok := strings.CutPrefix(n, net+":ip4="); ok {
			return ip
		}
	}
	t.Fatalf("no %s address in %q", net, m[1])
	return ""
}

// httpdPod starts a pod serving /etc (so /hostname) with busybox httpd on
// port 8080, on the given networks.
func httpdPod(t *testing.T, e *env, img string, flags ...string) *bgPod {
	t.Helper()
	return startPod(t, e, []string{insecureImage}, append(append([]string{}, flags...), img, "--exec=/bin/busybox", "--", "httpd", "-f", "-p", "8080", "-h", "/etc")...)
}

func writeNetConf(t *testing.T, e *env, name, conf string) {
	t.Helper()
	dir := filepath.Join(e.localConfig, "net.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkDefault(t *testing.T) {
	e, img := netEnv(t)
	remote := newRemote(t, 10)
	remote.serve(t, 8000, "remote-"+remote.ns)

	// A pod on the default network: its address, route, hosts file, and
	// what list and status show.
	a := httpdPod(t, e, img, "--hostname=pod-a")
	ipA := podIP(t, e, a.uuid, "default")
	if !strings.HasPrefix(ipA, "172.16.28.") {
		t.Fatalf("pod address %s is not in 172.16.28.0/24", ipA)
	}
	if l := rkt(t, e, "list", "--no-legend").ok(t).stdout; !strings.Contains(l, "default:ip4="+ipA) {
		t.Errorf("list does not show the network:\n%s", l)
	}
	out := rkt(t, e, insecureImage, "run", img, "--exec=/bin/sh", "--", "-c",
		"ip -4 -o addr show eth0; ip route; cat /etc/hosts; "+httpGet(ipA+":8080", "/hostname")+"; "+httpGet(remote.ip+":8000", "/id")).ok(t).stdout
	for _, want := range []string{"inet 172.16.28.", "default via 172.16.28.1", "pod-a", "remote-" + remote.ns} {
		if !strings.Contains(out, want) {
			t.Errorf("a second pod's output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^172\.16\.28\.\d+\trkt-[0-9a-f-]{36}$`).MatchString(out) {
		t.Errorf("/etc/hosts does not give the hostname the pod's address:\n%s", out)
	}

	// The apps of a pod share its network namespace.
	out = rkt(t, e, insecureImage, "run", img, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show eth0",
		"---", img, "--name=second", "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show eth0").ok(t).stdout
	addrs := regexp.MustCompile(`inet (172\.16\.28\.\d+)/`).FindAllStringSubmatch(out, -1)
	if len(addrs) != 2 || addrs[0][1] != addrs[1][1] {
		t.Errorf("two apps of one pod: %q", out)
	}

	// default-restricted: no masquerade, no default route.
	r := rkt(t, e, insecureImage, "run", "--net=default-restricted", img, "--exec=/bin/sh", "--", "-c",
		"ip -4 -o addr show eth0; "+httpGet(remote.ip+":8000", "/id"))
	if r.code == 0 || !strings.Contains(r.stdout, "inet 172.31.") || strings.Contains(r.stdout, "remote-") {
		t.Errorf("default-restricted reached the remote host, or has no address:\n%s", r)
	}

	// --net=none has only loopback; --net=host the host's interfaces.
	out = rkt(t, e, insecureImage, "run", "--net=none", img, "--exec=/bin/sh", "--", "-c", "ip -o link show | wc -l").ok(t).stdout
	if strings.TrimSpace(out) != "1" {
		t.Errorf("--net=none: %s links", out)
	}
	out = rkt(t, e, insecureImage, "run", "--net=host", img, "--exec=/bin/sh", "--", "-c", httpGet(remote.ip+":8000", "/id")).ok(t).stdout
	if !strings.Contains(out, "remote-") {
		t.Errorf("--net=host: %q", out)
	}
}

func TestNetworkUserBridgeAndStaticIP(t *testing.T) {
	e, img := netEnv(t)
	br := "rktb" + randHex(3)
	t.Cleanup(func() { _ = exec.CommandContext(context.Background(), "ip", "link", "del", br).Run() })
	writeNetConf(t, e, "10-lan.conf", `{"cniVersion":"1.0.0","name":"lan","type":"bridge","bridge":"`+br+`","isGateway":true,
		"ipam":{"type":"host-local","subnet":"10.198.0.0/24","dataDir":"`+filepath.Join(e.home, "ipam")+`"}}`)

	// Two pods talk over the user's bridge network.
	a := httpdPod(t, e, img, "--net=lan:IP=10.198.0.77", "--hostname=on-lan")
	if ip := podIP(t, e, a.uuid, "lan"); ip != "10.198.0.77" {
		t.Fatalf("static IP: got %s", ip)
	}
	out := rkt(t, e, insecureImage, "run", "--net=lan", img, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show eth0; "+httpGet("10.198.0.77:8080", "/hostname")).ok(t).stdout
	if !strings.Contains(out, "inet 10.198.0.") || !strings.Contains(out, "on-lan") {
		t.Errorf("second pod on lan:\n%s", out)
	}

	// The address is taken while the first pod runs.
	r := rkt(t, e, insecureImage, "run", "--net=lan:IP=10.198.0.77", img, "--exec=/bin/true").exit(t, 254)
	mentions(t, "stderr", r.stderr, `requested IP address "10.198.0.77" is not available in network: lan`)

	// Several networks: eth0, eth1 in file-name order (lan before default).
	out = rkt(t, e, insecureImage, "run", "--net=default,lan", img, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show").ok(t).stdout
	if !regexp.MustCompile(`eth0\s+inet 10\.198\.0\.`).MatchString(out) || !regexp.MustCompile(`eth1\s+inet 172\.16\.28\.`).MatchString(out) {
		t.Errorf("two networks:\n%s", out)
	}
	// all: every configured network plus default.
	out = rkt(t, e, insecureImage, "run", "--net=all", img, "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show | grep -c eth").ok(t).stdout
	if strings.TrimSpace(out) != "2" {
		t.Errorf("--net=all: %s interfaces", out)
	}
}

func TestNetworkPortForward(t *testing.T) {
	e, _ := netEnv(t)
	img := testutil.BusyboxImage(t, v1.Config{ExposedPorts: map[string]struct{}{"8080/tcp": {}}})
	dir := filepath.Join(t.TempDir(), "web")
	testutil.WriteOCILayout(t, dir, img, "latest")
	ref := "oci:" + dir + ":latest"
	remote := newRemote(t, 11)

	httpdPod(t, e, ref, "--port=8080-tcp:18080", "--hostname=web-pod")
	waitHTTP(t, nil, "127.0.0.1:18080", "/hostname", "web-pod")
	waitHTTP(t, []string{"ip", "netns", "exec", remote.ns}, remote.hostIP+":18080", "/hostname", "web-pod")

	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--net=host", "--port=8080-tcp:18081"}, "--port cannot be used with --net=host"},
		{[]string{"--net=none", "--port=8080-tcp:18081"}, "--port cannot be used with --net=none"},
		{[]string{"--port=nope:18081"}, "no app of the pod has a port of that name"},
		{[]string{"--port=8080-tcp:0"}, "1 to 65535"},
	} {
		r := rkt(t, e, append(append([]string{insecureImage, "run"}, c.args...), ref, "--exec=/bin/true")...).exit(t, 254)
		mentions(t, "stderr", r.stderr, c.err)
	}
}

func TestNetworkDNS(t *testing.T) {
	e, img := netEnv(t)
	writeNetConf(t, e, "10-dns.conf", `{"cniVersion":"1.0.0","name":"dnsnet","type":"ptp","ipMasq":false,
		"ipam":{"type":"host-local","subnet":"10.197.0.0/24","dataDir":"`+filepath.Join(e.home, "ipam")+`"},
		"dns":{"nameservers":["10.197.0.53"],"search":["e2e.test"],"options":["ndots:3"]}}`)
	cat := []string{img, "--exec=/bin/cat", "--", "/etc/resolv.conf"}
	out := rkt(t, e, append([]string{insecureImage, "run", "--net=dnsnet"}, cat...)...).ok(t).stdout
	for _, want := range []string{"nameserver 10.197.0.53", "search e2e.test", "options ndots:3"} {
		if !strings.Contains(out, want) {
			t.Errorf("CNI DNS: no %q in\n%s", want, out)
		}
	}
	// The flags win over the network's DNS.
	out = rkt(t, e, append([]string{insecureImage, "run", "--net=dnsnet", "--dns=10.0.0.9", "--dns-search=flag.test", "--dns-opt=rotate", "--dns-domain=flag.test"}, cat...)...).ok(t).stdout
	if !strings.Contains(out, "nameserver 10.0.0.9") || !strings.Contains(out, "search flag.test") || !strings.Contains(out, "options rotate") ||
		!strings.Contains(out, "domain flag.test") || strings.Contains(out, "10.197.0.53") {
		t.Errorf("--dns over CNI DNS:\n%s", out)
	}
	// --dns=none keeps the image's file (the busybox image has none).
	r := rkt(t, e, append([]string{insecureImage, "run", "--net=dnsnet", "--dns=none"}, cat...)...)
	if r.code == 0 || strings.Contains(r.stdout, "10.197.0.53") {
		t.Errorf("--dns=none:\n%s", r)
	}
}

func TestNetworkBadFlags(t *testing.T) {
	e, img := netEnv(t)
	for _, c := range []struct {
		net, err string
	}{
		{"nosuch", "networks not found: nosuch"},
		{"default,default", `network "default" given more than once`},
		{"host:IP=1.2.3.4", `the "host" network takes no arguments`},
		{"all:IP=1.2.3.4", `the "all" network takes no arguments`},
		{"host,default", "host and none cannot be combined"},
	} {
		r := rkt(t, e, insecureImage, "run", "--net="+c.net, img, "--exec=/bin/true").exit(t, 254)
		mentions(t, "stderr", r.stderr, c.err)
	}
}

// netState is what networking leaves on the host, for the leak check.
func netState(t *testing.T) map[string][]string {
	t.Helper()
	counters := regexp.MustCompile(`\[\d+:\d+\]|counter packets \d+ bytes \d+`)
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(counters.ReplaceAllString(l, "")); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	st := map[string][]string{
		"links":     lines(sh(t, "ip", "-o", "link", "show")),
		"addresses": lines(sh(t, "ip", "-o", "addr", "show")),
		"routes":    lines(sh(t, "ip", "route", "show")),
		"iptables":  lines(sh(t, "iptables-save")),
	}
	if _, err := exec.LookPath("nft"); err == nil {
		st["nft"] = lines(sh(t, "nft", "list", "ruleset"))
	}
	ents, _ := os.ReadDir("/var/run/netns")
	for _, e := range ents {
		st["netns"] = append(st["netns"], e.Name())
	}
	_ = filepath.WalkDir("/var/lib/cni/networks", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "lock" && !strings.HasPrefix(d.Name(), "last_reserved_ip") {
			st["ipam"] = append(st["ipam"], p)
		}
		return nil
	})
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, " nsfs ") {
			st["nsfs mounts"] = append(st["nsfs mounts"], strings.Fields(l)[4])
		}
	}
	return st
}

func diffState(before, after map[string][]string) []string {
	var out []string
	for _, k := range []string{"links", "addresses", "routes", "iptables", "nft", "netns", "ipam", "nsfs mounts"} {
		for _, l := range after[k] {
			if !slices.Contains(before[k], l) {
				out = append(out, k+" + "+l)
			}
		}
		for _, l := range before[k] {
			if !slices.Contains(after[k], l) {
				out = append(out, k+" - "+l)
			}
		}
	}
	return out
}

// TestNetworkNoLeaks runs 100 pods on CNI networks, each followed by a gc:
// plain runs, port forwards, a network whose second plugin fails on
// purpose, and pods whose rkt process is killed with SIGKILL. Afterwards
// the host has no link, address, route, iptables or nftables rule, IPAM
// record, namespace file or nsfs mount more or less than before.
func TestNetworkNoLeaks(t *testing.T) {
	e, _ := netEnv(t)
	img := testutil.BusyboxImage(t, v1.Config{ExposedPorts: map[string]struct{}{"8080/tcp": {}}})
	dir := filepath.Join(t.TempDir(), "web")
	testutil.WriteOCILayout(t, dir, img, "latest")
	ref := "oci:" + dir + ":latest"
	// A plugin that fails ADD after ptp made the veth, the address and the
	// masquerade rules.
	writeNetConf(t, e, "fail", "#!/bin/sh\ncat >/dev/null\ncase $CNI_COMMAND in\n"+
		"ADD) echo '{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"failing on purpose\"}'; exit 1 ;;\n"+
		"VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}' ;;\nesac\nexit 0\n")
	if err := os.Chmod(filepath.Join(e.localConfig, "net.d", "fail"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeNetConf(t, e, "50-halfway.conflist", `{"cniVersion":"1.0.0","name":"halfway","plugins":[
		{"type":"ptp","ipMasq":true,"ipam":{"type":"host-local","subnet":"10.196.0.0/24","routes":[{"dst":"0.0.0.0/0"}]}},{"type":"fail"}]}`)
	fetch(t, e, "--insecure-options=image", ref).ok(t)
	// portmap makes its shared chains (CNI-HOSTPORT-*) once per host and
	// leaves them for every later user, as it does for podman: let them
	// exist before the first look.
	rkt(t, e, insecureImage, "run", "--port=8080-tcp:18091", ref, "--exec=/bin/true").ok(t)
	rkt(t, e, "gc", "--grace-period=0s").ok(t)

	before := netState(t)
	for i := range 100 {
		switch {
		case i%25 == 7: // the run process killed with SIGKILL
			p := startPod(t, e, []string{insecureImage}, "--port=8080-tcp:18090", ref, "--exec=/bin/sleep", "--", "60")
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = p.cmd.Wait()
		case i%10 == 3:
			r := rkt(t, e, insecureImage, "run", "--net=halfway", ref, "--exec=/bin/true").exit(t, 254)
			mentions(t, "stderr", r.stderr, "failed to setup network", "failing on purpose")
		case i%10 == 5:
			rkt(t, e, insecureImage, "run", "--port=8080-tcp:18091", ref, "--exec=/bin/true").ok(t)
		case i%10 == 9:
			rkt(t, e, insecureImage, "run", "--net=default,default-restricted", ref, "--exec=/bin/true").ok(t)
		default:
			rkt(t, e, insecureImage, "run", ref, "--exec=/bin/true").ok(t)
		}
		rkt(t, e, "gc", "--grace-period=0s").ok(t)
	}
	if d := diffState(before, netState(t)); len(d) > 0 {
		t.Errorf("100 run+gc cycles left the host's network changed:\n%s", strings.Join(d, "\n"))
	}
	if l := rkt(t, e, "list", "--no-legend").ok(t).stdout; strings.TrimSpace(l) != "" {
		t.Errorf("pods left after gc:\n%s", l)
	}
}

// TestNetworkForwardPolicyDrop: with the FORWARD chain's policy DROP (as
// Docker leaves it), pods on the default network still reach other hosts,
// and port forwards still reach them.
func TestNetworkForwardPolicyDrop(t *testing.T) {
	e, _ := netEnv(t)
	img := testutil.BusyboxImage(t, v1.Config{ExposedPorts: map[string]struct{}{"8080/tcp": {}}})
	dir := filepath.Join(t.TempDir(), "web")
	testutil.WriteOCILayout(t, dir, img, "latest")
	ref := "oci:" + dir + ":latest"
	remote := newRemote(t, 12)
	remote.serve(t, 8000, "remote-"+remote.ns)
	policy := "ACCEPT"
	if strings.Contains(sh(t, "iptables", "-S", "FORWARD"), "-P FORWARD DROP") {
		policy = "DROP"
	}
	sh(t, "iptables", "-P", "FORWARD", "DROP")
	t.Cleanup(func() { _ = exec.CommandContext(context.Background(), "iptables", "-P", "FORWARD", policy).Run() })

	out := rkt(t, e, insecureImage, "run", ref, "--exec=/bin/sh", "--", "-c", httpGet(remote.ip+":8000", "/id")).ok(t).stdout
	if !strings.Contains(out, "remote-"+remote.ns) {
		t.Errorf("a pod behind FORWARD DROP did not reach the remote host: %q", out)
	}
	httpdPod(t, e, ref, "--port=8080-tcp:18082", "--hostname=dropped-pod")
	waitHTTP(t, []string{"ip", "netns", "exec", remote.ns}, remote.hostIP+":18082", "/hostname", "dropped-pod")
}
