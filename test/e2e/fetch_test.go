package e2e

import (
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/rkt/rkt/internal/testutil"
)

var (
	shortIDRE = regexp.MustCompile(`^sha256-[0-9a-f]{32}$`)
	fullIDRE  = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
)

// platform is the platform rkt picks from an index.
var platform = "linux/" + runtime.GOARCH

func TestFetchNeedsInsecureOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	img := tinyImage(t, "insecure")
	ref := reg.Ref("app/insecure", "v1")
	reg.Push(t, ref, img)
	archive := filepath.Join(t.TempDir(), "img.tar")
	testutil.WriteOCIArchive(t, archive, img, "v1")

	initStore(t, e)
	before := storeSnapshot(t, e.dir)
	for _, args := range [][]string{
		{"fetch", "docker://" + ref},
		{"--insecure-options=http", "fetch", "docker://" + ref},
		{"--insecure-options=tls,http", "fetch", "docker://" + ref},
		{"fetch", "oci-archive:" + archive},
	} {
		r := rkt(t, e, args...)
		mentions(t, "error", r.errorLine(t, "fetch: "), "--insecure-options=image")
		if n := len(lines(r.stderr)); n != 1 {
			t.Errorf("want one stderr line (no warning: nothing was turned off), got %d:\n%s", n, r)
		}
		sameStore(t, e, before)
	}

	// A plain-HTTP registry needs http too.
	r := rkt(t, e, insecureImage, "fetch", "docker://"+ref)
	mentions(t, "error", r.errorLine(t, "fetch: "), "--insecure-options=http")
	sameStore(t, e, before)

	id := mustFetch(t, e, "docker://"+ref)
	if want := shortID(digestOf(t, img)); id != want {
		t.Errorf("fetch printed %s, want %s", id, want)
	}
	// all-fetch is image,tls,http.
	r = rkt(t, e, "--insecure-options=all-fetch", "fetch", "--full", "docker://"+ref).ok(t)
	if got, want := r.singleID(t), fullID(digestOf(t, img)); got != want {
		t.Errorf("fetch --full printed %s, want %s", got, want)
	}
}

func TestFetchTLS(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true})
	img := tinyImage(t, "tls")
	ref := reg.Ref("app/tls", "v1")
	reg.Push(t, ref, img)
	want := shortID(digestOf(t, img))

	t.Run("unknown CA", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		initStore(t, e)
		before := storeSnapshot(t, e.dir)
		r := rkt(t, e, insecureImage, "fetch", "docker://"+ref)
		line := r.errorLine(t, "fetch: ")
		mentions(t, "error", line, reg.Addr, "certificate", "--insecure-options=tls")
		if strings.Contains(line, "--insecure-options=http") {
			t.Errorf("a TLS failure suggests plain HTTP: %s", line)
		}
		sameStore(t, e, before)
		// http does not turn off certificate checks.
		r = rkt(t, e, insecureImageHTTP, "fetch", "docker://"+ref)
		r.errorLine(t, "fetch: ")
		sameStore(t, e, before)
	})
	t.Run("insecure tls", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := rkt(t, e, "--insecure-options=image,tls", "fetch", "docker://"+ref).ok(t)
		if got := r.singleID(t); got != want {
			t.Errorf("fetch printed %s, want %s", got, want)
		}
	})
	t.Run("SSL_CERT_FILE", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.vars = append(e.vars, "SSL_CERT_FILE="+reg.CAFile)
		r := rkt(t, e, insecureImage, "fetch", "docker://"+ref).ok(t)
		if got := r.singleID(t); got != want {
			t.Errorf("fetch printed %s, want %s", got, want)
		}
	})
}

func TestFetchFromRegistry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ociImg := tinyImage(t, "oci")
	dockerImg := tinyDockerImage(t, "docker")
	ociRef := reg.Ref("app/oci", "v1")
	dockerRef := reg.Ref("library/docker-app", "1.0")
	reg.Push(t, ociRef, ociImg)
	reg.Push(t, dockerRef, dockerImg)
	ociDigest, dockerDigest := digestOf(t, ociImg), digestOf(t, dockerImg)

	// Both at once: one ID per image, in order.
	r := fetch(t, e, "docker://"+ociRef, "docker://"+dockerRef).ok(t)
	if got, want := lines(r.stdout), []string{shortID(ociDigest), shortID(dockerDigest)}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("fetch printed %v, want %v:\n%s", got, want, r)
	}
	for _, id := range lines(r.stdout) {
		if !shortIDRE.MatchString(id) {
			t.Errorf("ID %q is not sha256- and 32 hex digits", id)
		}
	}

	// By digest, short and full.
	if got := mustFetch(t, e, "docker://"+reg.Ref("app/oci", ociDigest.String())); got != shortID(ociDigest) {
		t.Errorf("fetch by digest printed %s, want %s", got, shortID(ociDigest))
	}
	r = fetch(t, e, "--full", "docker://"+reg.Ref("library/docker-app", dockerDigest.String())).ok(t)
	if got := r.singleID(t); got != fullID(dockerDigest) || !fullIDRE.MatchString(got) {
		t.Errorf("fetch --full printed %s, want %s", got, fullID(dockerDigest))
	}

	// Without a tag is :latest, which image list marks LATEST.
	latest := tinyImage(t, "latest")
	reg.Push(t, reg.Ref("app/latest", "latest"), latest)
	if got := mustFetch(t, e, "docker://"+reg.Addr+"/app/latest"); got != shortID(digestOf(t, latest)) {
		t.Errorf("fetch without a tag printed %s, want the latest tag's %s", got, shortID(digestOf(t, latest)))
	}
	r = rkt(t, e, "image", "list", "--no-legend", "--fields=name,latest").ok(t)
	for _, row := range lines(r.stdout) {
		f := strings.Fields(row)
		if len(f) != 2 || f[1] != strconv.FormatBool(strings.HasSuffix(f[0], ":latest")) {
			t.Errorf("image list row %q: LATEST should be true exactly for :latest", row)
		}
	}

	// Stored images, by ID prefix and by name; these need no registry.
	reg.Stop()
	if got := mustFetch(t, e, reg.Addr+"/app/latest"); got != shortID(digestOf(t, latest)) {
		t.Errorf("fetch of a stored name without a tag printed %s, want %s", got, shortID(digestOf(t, latest)))
	}
	for _, in := range []string{
		shortID(ociDigest),
		fullID(ociDigest),
		"sha256-" + ociDigest.Hex[:uniquePrefix(ociDigest.Hex, dockerDigest.Hex)],
		"sha256:" + ociDigest.Hex,
		ociRef,
	} {
		if got := mustFetch(t, e, in); got != shortID(ociDigest) {
			t.Errorf("fetch %s printed %s, want %s", in, got, shortID(ociDigest))
		}
	}
	if got := mustFetch(t, e, dockerRef); got != shortID(dockerDigest) {
		t.Errorf("fetch %s printed %s, want %s", dockerRef, got, shortID(dockerDigest))
	}
	// Not in the store: a name without transport is not fetched remotely.
	before := storeSnapshot(t, e.dir)
	r = fetch(t, e, reg.Ref("app/oci", "v2"))
	mentions(t, "error", r.errorLine(t, "fetch: "), reg.Ref("app/oci", "v2"))
	r = fetch(t, e, "sha256-00000000")
	mentions(t, "error", r.errorLine(t, "fetch: "), "sha256-00000000")
	sameStore(t, e, before)
}

// uniquePrefix returns the length of the shortest prefix of a (at least 2)
// that b does not start with.
func uniquePrefix(a, b string) int {
	n := 2
	for n < len(a) && strings.HasPrefix(b, a[:n]) {
		n++
	}
	return n
}

func TestFetchIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	other := "linux/s390x"
	if platform == other {
		other = "linux/arm64"
	}

	ociIdx := testutil.MultiArchIndex(t, map[string]v1.Image{
		platform:         tinyImage(t, "index-native"),
		"linux/arm64/v8": tinyImage(t, "index-arm64"),
		other:            tinyImage(t, "index-other"),
	})
	dockerIdx := testutil.DockerManifestList(t, map[string]v1.Image{
		platform: tinyDockerImage(t, "list-native"),
		other:    tinyDockerImage(t, "list-other"),
	})
	foreign := testutil.MultiArchIndex(t, map[string]v1.Image{
		"linux/arm64/v8":            tinyImage(t, "foreign-arm64"),
		"windows/" + runtime.GOARCH: tinyImage(t, "foreign-windows"),
	})
	reg.PushIndex(t, reg.Ref("multi/oci", "latest"), ociIdx)
	reg.PushIndex(t, reg.Ref("multi/docker", "latest"), dockerIdx)
	reg.PushIndex(t, reg.Ref("multi/foreign", "latest"), foreign)

	for _, c := range []struct {
		ref string
		idx interface{ Digest() (v1.Hash, error) }
		img v1.Image
	}{
		{reg.Ref("multi/oci", "latest"), ociIdx, testutil.PlatformImage(t, ociIdx, platform)},
		{reg.Ref("multi/docker", "latest"), dockerIdx, testutil.PlatformImage(t, dockerIdx, platform)},
	} {
		want := fullID(digestOf(t, c.img))
		r := fetch(t, e, "--full", "docker://"+c.ref).ok(t)
		if got := r.singleID(t); got != want {
			t.Errorf("fetch %s printed %s, want the %s manifest's ID %s", c.ref, got, platform, want)
		}
		// By the index digest too.
		r = fetch(t, e, "--full", "docker://"+strings.Split(c.ref, ":latest")[0]+"@"+digestOf(t, c.idx).String()).ok(t)
		if got := r.singleID(t); got != want {
			t.Errorf("fetch %s by index digest printed %s, want %s", c.ref, got, want)
		}
	}

	before := storeSnapshot(t, e.dir)
	r := fetch(t, e, "docker://"+reg.Ref("multi/foreign", "latest"))
	mentions(t, "error", r.errorLine(t, "fetch: "), platform, "linux/arm64", "windows/"+runtime.GOARCH)
	sameStore(t, e, before)
}

func TestFetchLocalTransports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tmp := t.TempDir()
	one, two := tinyImage(t, "layout-one"), tinyDockerImage(t, "layout-two")
	oneID, twoID := shortID(digestOf(t, one)), shortID(digestOf(t, two))

	single := filepath.Join(tmp, "single")
	testutil.WriteOCILayout(t, single, one, "")
	multi := filepath.Join(tmp, "multi")
	testutil.WriteOCILayout(t, multi, one, "one")
	testutil.WriteOCILayout(t, multi, two, "two")
	archive := filepath.Join(tmp, "multi.tar")
	if err := testutil.TarDir(multi, archive); err != nil {
		t.Fatal(err)
	}
	singleArchive := filepath.Join(tmp, "single.tar")
	testutil.WriteOCIArchive(t, singleArchive, two, "")

	cases := []struct{ in, want string }{
		{"oci:" + single, oneID},
		{"oci:" + multi + ":one", oneID},
		{"oci:" + multi + ":two", twoID},
		{"oci-archive:" + singleArchive, twoID},
		{"oci-archive:" + archive + ":one", oneID},
		{"oci-archive:" + archive + ":two", twoID},
	}
	for _, c := range cases {
		if got := mustFetch(t, e, c.in); got != c.want {
			t.Errorf("fetch %s printed %s, want %s", c.in, got, c.want)
		}
	}
	// A layout whose image is a multi-arch index resolves to this platform.
	indexed := filepath.Join(tmp, "indexed")
	idx := testutil.MultiArchIndex(t, map[string]v1.Image{
		platform:         tinyImage(t, "layout-index-native"),
		"linux/riscv64":  tinyImage(t, "layout-index-riscv"),
		"linux/arm64/v8": tinyImage(t, "layout-index-arm64"),
	})
	testutil.WriteOCILayoutIndex(t, indexed, idx, "multi")
	if got, want := mustFetch(t, e, "oci:"+indexed+":multi"), shortID(digestOf(t, testutil.PlatformImage(t, idx, platform))); got != want {
		t.Errorf("fetch of a layout index printed %s, want the %s manifest's %s", got, platform, want)
	}

	before := storeSnapshot(t, e.dir)
	r := fetch(t, e, "oci:"+multi)
	mentions(t, "error", r.errorLine(t, "fetch: "), "oci:"+multi)
	r = fetch(t, e, "oci:"+multi+":three")
	mentions(t, "error", r.errorLine(t, "fetch: "), "three")
	sameStore(t, e, before)

	// docker-archive: the ID is that of the manifest rkt derives from the
	// archive, the same each time; the tag selects the image.
	dockerSingle := filepath.Join(tmp, "docker-single.tar")
	testutil.WriteDockerArchive(t, dockerSingle, "example.com/app:v1", tinyDockerImage(t, "docker-archive"))
	dockerMulti := filepath.Join(tmp, "docker-multi.tar")
	refs := map[name.Reference]v1.Image{
		mustTag(t, "example.com/multi:a"): tinyDockerImage(t, "docker-a"),
		mustTag(t, "example.com/multi:b"): tinyDockerImage(t, "docker-b"),
	}
	if err := tarball.MultiRefWriteToFile(dockerMulti, refs); err != nil {
		t.Fatal(err)
	}
	idSingle := mustFetch(t, e, "docker-archive:"+dockerSingle)
	idTag := mustFetch(t, e, "docker-archive:"+dockerSingle+":v1")
	idA := mustFetch(t, e, "docker-archive:"+dockerMulti+":a")
	idB := mustFetch(t, e, "docker-archive:"+dockerMulti+":b")
	for _, id := range []string{idSingle, idA, idB} {
		if !shortIDRE.MatchString(id) {
			t.Errorf("docker-archive ID %q is not sha256- and 32 hex digits", id)
		}
	}
	if idSingle != idTag {
		t.Errorf("docker-archive with and without its tag: %s and %s", idSingle, idTag)
	}
	if idA == idB {
		t.Errorf("docker-archive tags a and b gave the same image %s", idA)
	}
	if got := mustFetch(t, e, "docker-archive:"+dockerMulti+":a"); got != idA {
		t.Errorf("docker-archive fetched again: %s, first %s", got, idA)
	}
	l := rkt(t, e, "image", "list", "--no-legend", "--fields=id,name", "--full").ok(t)
	for _, n := range []string{"example.com/app:v1", "example.com/multi:a", "example.com/multi:b"} {
		mentions(t, "image list", l.stdout, n)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func TestFetchAuth(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			users := map[string]string{"alice": "alice-secret"}
			opts := testutil.RegistryOptions{Basic: users}
			if mode == "token" {
				opts = testutil.RegistryOptions{Token: true, TokenUsers: users}
			}
			reg := testutil.StartRegistry(t, opts)
			img := tinyImage(t, "auth-"+mode)
			ref := reg.Ref("private/app", "v1")
			reg.Push(t, ref, img)
			want := shortID(digestOf(t, img))

			t.Run("no credentials", func(t *testing.T) {
				e := newEnv(t)
				initStore(t, e)
				before := storeSnapshot(t, e.dir)
				r := fetch(t, e, "docker://"+ref)
				mentions(t, "error", r.errorLine(t, "fetch: "), reg.Addr)
				sameStore(t, e, before)
			})
			t.Run("wrong password", func(t *testing.T) {
				e := newEnv(t)
				writeDockerAuth(t, e.localConfig, "reg.json", reg.Addr, "alice", "not-the-password")
				initStore(t, e)
				before := storeSnapshot(t, e.dir)
				r := fetch(t, e, "docker://"+ref)
				line := r.errorLine(t, "fetch: ")
				mentions(t, "error", line, reg.Addr)
				if strings.Contains(line, "not-the-password") {
					t.Errorf("the error shows the password: %s", line)
				}
				sameStore(t, e, before)
			})
			t.Run("auth.d", func(t *testing.T) {
				e := newEnv(t)
				writeDockerAuth(t, e.localConfig, "reg.json", reg.Addr, "alice", "alice-secret")
				if got := mustFetch(t, e, "docker://"+ref); got != want {
					t.Errorf("fetch printed %s, want %s", got, want)
				}
			})
			t.Run("system auth.d", func(t *testing.T) {
				e := newEnv(t)
				writeDockerAuth(t, e.systemConfig, "reg.json", reg.Addr, "alice", "alice-secret")
				if got := mustFetch(t, e, "docker://"+ref); got != want {
					t.Errorf("fetch printed %s, want %s", got, want)
				}
			})
			t.Run("docker config", func(t *testing.T) {
				e := newEnv(t)
				writeDockerConfig(t, e, reg.Addr, "alice", "alice-secret")
				if got := mustFetch(t, e, "docker://"+ref); got != want {
					t.Errorf("fetch printed %s, want %s", got, want)
				}
			})
		})
	}
}

func TestPullPolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	first, second := tinyImage(t, "policy-1"), tinyImage(t, "policy-2")
	ref := evil.Seed(t, "policy/app", "latest", first)
	firstID, secondID := shortID(digestOf(t, first)), shortID(digestOf(t, second))
	manifests := func() int { return countRequests(evil.Requests(), "GET", "/manifests/") }
	blobGets := func(img v1.Image) int {
		n := 0
		for _, d := range layerDigests(t, img) {
			n += countRequests(evil.Requests(), "GET", "/blobs/"+d.String())
		}
		return n
	}

	// never: missing is an error, and nothing is asked.
	initStore(t, e)
	before := storeSnapshot(t, e.dir)
	r := fetch(t, e, "--pull-policy=never", "docker://"+ref)
	mentions(t, "error", r.errorLine(t, "fetch: "), ref)
	if n := len(evil.Requests()); n != 0 {
		t.Errorf("--pull-policy=never made %d requests: %v", n, evil.Requests())
	}
	sameStore(t, e, before)

	// update is the default: it asks the registry.
	if got := mustFetch(t, e, "docker://"+ref); got != firstID {
		t.Fatalf("fetch printed %s, want %s", got, firstID)
	}
	if got, want := blobGets(first), len(layerDigests(t, first)); got != want {
		t.Errorf("first fetch: %d layer blob GETs, want %d", got, want)
	}
	m0, b0 := manifests(), countRequests(evil.Requests(), "GET", "/blobs/")
	if m0 == 0 {
		t.Fatal("the first fetch asked for no manifest")
	}
	if got := mustFetch(t, e, "docker://"+ref); got != firstID {
		t.Errorf("second fetch printed %s, want %s", got, firstID)
	}
	if manifests() <= m0 {
		t.Errorf("the default policy (update) did not ask the registry: %v", evil.Requests())
	}
	if got, want := blobGets(first), len(layerDigests(t, first)); got != want {
		t.Errorf("re-fetch downloaded stored blobs again: %d layer blob GETs, want %d", got, want)
	}
	// Nor the config: a re-fetch asks for the manifest only.
	if got := countRequests(evil.Requests(), "GET", "/blobs/"); got != b0 {
		t.Errorf("re-fetch downloaded %d stored blobs again: %v", got-b0, evil.Requests())
	}
	if got := mustFetch(t, e, "--pull-policy=update", "docker://"+ref); got != firstID {
		t.Errorf("fetch --pull-policy=update printed %s, want %s", got, firstID)
	}

	// new and never use the store without a request.
	n := len(evil.Requests())
	for _, p := range []string{"new", "never"} {
		if got := mustFetch(t, e, "--pull-policy="+p, "docker://"+ref); got != firstID {
			t.Errorf("fetch --pull-policy=%s printed %s, want %s", p, got, firstID)
		}
		if got := mustFetch(t, e, "--pull-policy="+p, "docker://"+evil.Ref("policy/app", digestOf(t, first).String())); got != firstID {
			t.Errorf("fetch --pull-policy=%s by digest printed %s, want %s", p, got, firstID)
		}
	}
	if got := evil.Requests()[n:]; len(got) != 0 {
		t.Errorf("--pull-policy=new/never asked the registry: %v", got)
	}

	// The tag moves: new keeps the stored image, update gets the new one.
	evil.Seed(t, "policy/app", "latest", second)
	if got := mustFetch(t, e, "--pull-policy=new", "docker://"+ref); got != firstID {
		t.Errorf("fetch --pull-policy=new after a re-tag printed %s, want the stored %s", got, firstID)
	}
	if got := evil.Requests()[n:]; len(got) != 0 {
		t.Errorf("--pull-policy=new asked the registry: %v", got)
	}
	if got := mustFetch(t, e, "docker://"+ref); got != secondID {
		t.Errorf("fetch (update) after a re-tag printed %s, want the new %s", got, secondID)
	}
	if got := mustFetch(t, e, "--pull-policy=never", "docker://"+ref); got != secondID {
		t.Errorf("fetch --pull-policy=never after the update printed %s, want %s", got, secondID)
	}
	// Both images are stored.
	l := rkt(t, e, "image", "list", "--no-legend", "--fields=id", "--full").ok(t)
	mentions(t, "image list", l.stdout, fullID(digestOf(t, first)), fullID(digestOf(t, second)))

	// An image fetched through a multi-arch index, by tag and by the
	// index's digest: new and never find it stored either way.
	idx := testutil.MultiArchIndex(t, map[string]v1.Image{
		platform:         tinyImage(t, "policy-index-native"),
		"linux/arm64/v8": tinyImage(t, "policy-index-arm64"),
	})
	idxTag := "docker://" + evil.SeedIndex(t, "policy/multi", "v1", idx)
	idxDigest := "docker://" + evil.Ref("policy/multi", digestOf(t, idx).String())
	native := shortID(digestOf(t, testutil.PlatformImage(t, idx, platform)))
	for _, in := range []string{idxTag, idxDigest} {
		if got := mustFetch(t, e, in); got != native {
			t.Errorf("fetch %s printed %s, want %s", in, got, native)
		}
		n := len(evil.Requests())
		for _, p := range []string{"new", "never"} {
			if got := mustFetch(t, e, "--pull-policy="+p, in); got != native {
				t.Errorf("fetch --pull-policy=%s %s printed %s, want %s", p, in, got, native)
			}
		}
		if got := evil.Requests()[n:]; len(got) != 0 {
			t.Errorf("--pull-policy=new/never of the stored %s asked the registry: %v", in, got)
		}
	}

	// Bad values.
	r = rkt(t, e, insecureImageHTTP, "fetch", "--pull-policy=sometimes", "docker://"+ref)
	mentions(t, "error", r.errorLine(t, "fetch: "), "sometimes")
}

// TestFetchPullNeverOffline checks that a stored image fetched with
// --pull-policy=never works when its registry is gone.
func TestFetchPullNeverOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	img := tinyImage(t, "offline")
	ref := reg.Ref("offline/app", "v1")
	reg.Push(t, ref, img)
	id := mustFetch(t, e, "docker://"+ref)
	reg.Stop()
	if got := mustFetch(t, e, "--pull-policy=never", "docker://"+ref); got != id {
		t.Errorf("fetch --pull-policy=never printed %s, want %s", got, id)
	}
	if got := mustFetch(t, e, "--pull-policy=new", "docker://"+ref); got != id {
		t.Errorf("fetch --pull-policy=new printed %s, want %s", got, id)
	}
	// update needs the registry.
	r := fetch(t, e, "docker://"+ref)
	mentions(t, "error", r.errorLine(t, "fetch: "), reg.Addr)
}
