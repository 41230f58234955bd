package e2e

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rkt/rkt/internal/testutil"
)

// listImages runs `rkt image list --format=json` and returns the images.
func listImages(t *testing.T, e *env) []imageJSON {
	t.Helper()
	r := rkt(t, e, "image", "list", "--format=json").ok(t)
	var out []imageJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("image list --format=json is not a JSON array: %v\n%s", err, r)
	}
	return out
}

type imageJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func TestImageList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	imgs := map[string]v1.Image{"alpha": tinyImage(t, "list-alpha"), "beta": tinyImage(t, "list-beta"), "gamma": tinyDockerImage(t, "list-gamma")}
	names := map[string]string{}   // seed -> store name
	digests := map[string]string{} // store name -> full ID
	for _, n := range []string{"beta", "gamma", "alpha"} {
		ref := evil.Seed(t, "list/"+n, "v1", imgs[n])
		mustFetch(t, e, "docker://"+ref)
		names[n] = ref
		digests[ref] = fullID(digestOf(t, imgs[n]))
	}

	// The default table.
	r := rkt(t, e, "image", "list").ok(t)
	l := lines(r.stdout)
	if len(l) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", r)
	}
	if got := strings.Join(strings.Fields(l[0]), " "); got != "ID NAME IMPORT TIME LAST USED SIZE LATEST" {
		t.Errorf("header %q, want ID NAME IMPORT TIME LAST USED SIZE LATEST", got)
	}
	short := regexp.MustCompile(`^sha256-[0-9a-f]{12}$`)
	for _, row := range l[1:] {
		cols := strings.Split(row, "\t")
		cols = slices.DeleteFunc(cols, func(s string) bool { return s == "" })
		if len(cols) != 6 {
			t.Errorf("row %q: want 6 tab-separated columns", row)
			continue
		}
		full, ok := digests[cols[1]]
		if !ok {
			t.Errorf("row %q: unknown name %q", row, cols[1])
			continue
		}
		if !short.MatchString(cols[0]) || !strings.HasPrefix(full, cols[0]) {
			t.Errorf("row %q: ID %q is not the short form of %s", row, cols[0], full)
		}
		if !regexp.MustCompile(`^[0-9.]+(B|[KMG]iB)$`).MatchString(cols[4]) {
			t.Errorf("row %q: size %q is not in IEC units", row, cols[4])
		}
		if cols[5] != "false" {
			t.Errorf("row %q: LATEST %q, want false for a v1 tag", row, cols[5])
		}
	}

	// --no-legend, --fields, --sort, --order.
	r = rkt(t, e, "image", "list", "--no-legend", "--fields=id,name", "--sort=name", "--order=desc").ok(t)
	var gotNames []string
	for _, row := range lines(r.stdout) {
		f := strings.Fields(row)
		if len(f) != 2 {
			t.Fatalf("row %q: want 2 columns (id, name):\n%s", row, r)
		}
		gotNames = append(gotNames, f[1])
	}
	wantNames := []string{names["gamma"], names["beta"], names["alpha"]}
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("--sort=name --order=desc: %v, want %v", gotNames, wantNames)
	}
	r = rkt(t, e, "image", "list", "--no-legend", "--fields=name", "--sort=name").ok(t)
	if got := lines(r.stdout); !slices.Equal(got, []string{names["alpha"], names["beta"], names["gamma"]}) {
		t.Errorf("--sort=name: %v", got)
	}

	// --full: full IDs and sizes in bytes; --format=json agrees.
	js := listImages(t, e)
	if len(js) != 3 {
		t.Fatalf("json: %d images, want 3: %+v", len(js), js)
	}
	sizes := map[string]int64{}
	for _, j := range js {
		if digests[j.Name] != j.ID {
			t.Errorf("json: image %q has id %q, want %q", j.Name, j.ID, digests[j.Name])
		}
		if j.Size <= 0 {
			t.Errorf("json: image %q has size %d", j.Name, j.Size)
		}
		sizes[j.ID] = j.Size
	}
	r = rkt(t, e, "image", "list", "--full", "--no-legend", "--fields=id,size,name").ok(t)
	for _, row := range lines(r.stdout) {
		f := strings.Fields(row)
		if len(f) != 3 || !fullIDRE.MatchString(f[0]) {
			t.Errorf("--full row %q: want a full ID, a size and a name", row)
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n != sizes[f[0]] {
			t.Errorf("--full row %q: size %q, want %d bytes", row, f[1], sizes[f[0]])
		}
	}

	// --full times are absolute, in rkt's time format.
	r = rkt(t, e, "image", "list", "--full", "--no-legend", "--fields=importtime,lastused").ok(t)
	for _, row := range lines(r.stdout) {
		for _, col := range slices.DeleteFunc(strings.Split(row, "\t"), func(s string) bool { return s == "" }) {
			ts, err := time.Parse("2006-01-02 15:04:05.999 -0700 MST", strings.TrimSpace(col))
			if err != nil || time.Since(ts) > time.Hour || time.Since(ts) < -time.Minute {
				t.Errorf("--full time %q: %v (want a recent time as 2006-01-02 15:04:05.999 -0700 MST)", col, err)
			}
		}
	}

	// Bad flags.
	for flag, bad := range map[string]string{"--fields=id,": "bogus", "--sort=": "bogus", "--order=": "sideways", "--format=": "yaml"} {
		r := rkt(t, e, "image", "list", flag+bad)
		mentions(t, "error", r.errorLine(t, "image list: "), bad)
	}
}

func TestImageRm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	a, b, c := tinyImage(t, "rm-a"), tinyImage(t, "rm-b"), tinyImage(t, "rm-c")
	refA := evil.Seed(t, "rm/a", "v1", a)
	refB := evil.Seed(t, "rm/b", "v1", b)
	refC := evil.Seed(t, "rm/c", "v1", c)
	for _, ref := range []string{refA, refB, refC} {
		mustFetch(t, e, "docker://"+ref)
	}
	listed := func() []string {
		var out []string
		for _, j := range listImages(t, e) {
			out = append(out, j.Name)
		}
		slices.Sort(out)
		return out
	}

	// By name.
	r := rkt(t, e, "image", "rm", refA).ok(t)
	mentions(t, "stderr", r.stderr, fullID(digestOf(t, a)))
	if got := listed(); !slices.Equal(got, []string{refB, refC}) {
		t.Errorf("after rm by name: %v", got)
	}
	// By ID (the short form image list shows).
	rkt(t, e, "image", "rm", shortID(digestOf(t, b))[:19]).ok(t)
	if got := listed(); !slices.Equal(got, []string{refC}) {
		t.Errorf("after rm by ID: %v", got)
	}
	// By docker:// reference.
	rkt(t, e, "image", "rm", "docker://"+refC).ok(t)
	if got := listed(); len(got) != 0 {
		t.Errorf("after rm by docker:// reference: %v", got)
	}
	// The blobs went with the images.
	storeDirEmpty(t, e, "blobs/sha256")
	storeDirEmpty(t, e, "images")
	storeDirEmpty(t, e, "refs")

	// Unknown images.
	before := storeSnapshot(t, e.dir)
	for _, in := range []string{refA, "sha256-0123456789ab", "docker://" + evil.Ref("rm/none", "v1")} {
		r := rkt(t, e, "image", "rm", in).exit(t, 254)
		if r.stdout != "" {
			t.Errorf("stdout:\n%s", r)
		}
		for _, l := range lines(r.stderr) {
			if !strings.HasPrefix(l, "image rm: ") {
				t.Errorf("stderr line %q is not prefixed \"image rm: \"", l)
			}
		}
		mentions(t, "stderr", r.stderr, strings.TrimPrefix(in, "docker://"))
	}
	sameStore(t, e, before)
}

func TestImageCatManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	img := testutil.Image(t, v1.Config{
		Entrypoint:   []string{"/bin/server"},
		Cmd:          []string{"--port", "80"},
		Env:          []string{"PATH=/bin", "MODE=test"},
		User:         "1000:1000",
		WorkingDir:   "/srv",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
	}, testutil.Layer(t, []testutil.TarEntry{testutil.File("bin/server", 0o755, "server")}, testutil.Gzip))
	ref := evil.Seed(t, "cat/my_app", "1.2.3", img)
	id := mustFetch(t, e, "docker://"+ref)

	r := rkt(t, e, "image", "cat-manifest", id).ok(t)
	var m struct {
		ACKind string `json:"acKind"`
		Name   string `json:"name"`
		Labels []struct{ Name, Value string }
		App    struct {
			Exec             []string `json:"exec"`
			User             string   `json:"user"`
			Group            string   `json:"group"`
			WorkingDirectory string   `json:"workingDirectory"`
			Environment      []struct{ Name, Value string }
			Ports            []struct {
				Name     string `json:"name"`
				Protocol string `json:"protocol"`
				Port     int    `json:"port"`
			} `json:"ports"`
		} `json:"app"`
		Annotations []struct{ Name, Value string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("cat-manifest is not JSON: %v\n%s", err, r)
	}
	if m.ACKind != "ImageManifest" {
		t.Errorf("acKind %q, want ImageManifest", m.ACKind)
	}
	// The appc name is the repository, with what an AC identifier cannot
	// hold (the port's colon) replaced.
	if want := strings.ReplaceAll(evil.Addr, ":", "_") + "/cat/my_app"; m.Name != want {
		t.Errorf("name %q, want %q", m.Name, want)
	}
	labels := map[string]string{}
	for _, l := range m.Labels {
		labels[l.Name] = l.Value
	}
	if labels["version"] != "1.2.3" || labels["os"] != "linux" || labels["arch"] == "" {
		t.Errorf("labels %v, want version 1.2.3, os linux and an arch", labels)
	}
	if got := strings.Join(m.App.Exec, " "); got != "/bin/server --port 80" {
		t.Errorf("exec %q, want the entrypoint and cmd", got)
	}
	if m.App.User != "1000" || m.App.Group != "1000" || m.App.WorkingDirectory != "/srv" {
		t.Errorf("user %q group %q workingDirectory %q", m.App.User, m.App.Group, m.App.WorkingDirectory)
	}
	ports := map[string]string{}
	for _, p := range m.App.Ports {
		ports[p.Name] = p.Protocol + "/" + strconv.Itoa(p.Port)
	}
	if ports["80-tcp"] != "tcp/80" || ports["53-udp"] != "udp/53" || len(ports) != 2 {
		t.Errorf("ports %v, want 80-tcp and 53-udp", ports)
	}
	env := map[string]string{}
	for _, kv := range m.App.Environment {
		env[kv.Name] = kv.Value
	}
	if env["MODE"] != "test" {
		t.Errorf("environment %v", env)
	}

	// By name too, and compact.
	r2 := rkt(t, e, "image", "cat-manifest", "--pretty-print=false", ref).ok(t)
	if strings.Count(strings.TrimSpace(r2.stdout), "\n") != 0 {
		t.Errorf("--pretty-print=false printed several lines:\n%s", r2)
	}
	r = rkt(t, e, "image", "cat-manifest", "sha256-ffffffffffff")
	mentions(t, "error", r.errorLine(t, "image cat-manifest: "), "sha256-ffffffffffff")
}

func TestImageExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	img := tinyDockerImage(t, "export")
	ref := evil.Seed(t, "export/app", "v1", img)
	id := mustFetch(t, e, "docker://"+ref)

	out := filepath.Join(t.TempDir(), "export.tar")
	rkt(t, e, "image", "export", id, out).ok(t)

	// A fresh store gets the same image from the export.
	e2 := newEnv(t)
	if got := mustFetch(t, e2, "oci-archive:"+out); got != id {
		t.Errorf("fetch of the export printed %s, want %s", got, id)
	}
	js := listImages(t, e2)
	if len(js) != 1 || js[0].Name != ref {
		t.Errorf("the export's image is listed as %+v, want the name %s", js, ref)
	}

	// An existing file needs --overwrite.
	if err := os.WriteFile(out, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rkt(t, e, "image", "export", id, out)
	mentions(t, "error", r.errorLine(t, "image export: "), out)
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Errorf("export without --overwrite changed %s", out)
	}
	rkt(t, e, "image", "export", "--overwrite", ref, out).ok(t)
	e3 := newEnv(t)
	if got := mustFetch(t, e3, "oci-archive:"+out); got != id {
		t.Errorf("fetch of the overwritten export printed %s, want %s", got, id)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("export left files beside its output: %v", ents)
	}
	r = rkt(t, e, "image", "export", "sha256-eeeeeeee", filepath.Join(t.TempDir(), "x.tar"))
	mentions(t, "error", r.errorLine(t, "image export: "), "sha256-eeeeeeee")
}

func TestImageExtractRender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := tinyImage(t, "extract")
	layout := filepath.Join(t.TempDir(), "layout")
	testutil.WriteOCILayout(t, layout, img, "v1")
	id := mustFetch(t, e, "oci:"+layout)
	want := testutil.RootfsExpect{
		Entries: []testutil.RootfsEntry{
			{Path: "bin/hello", Type: tar.TypeReg, Mode: 0o755, Body: "#!/bin/sh\necho hello extract\n"},
			{Path: "etc/seed", Type: tar.TypeReg, Mode: 0o644, Body: "extract\n"},
		},
	}
	for _, cmd := range []string{"extract", "render"} {
		t.Run(cmd, func(t *testing.T) {
			base := t.TempDir()
			// With the manifest.
			dir := filepath.Join(base, "full")
			rkt(t, e, "image", cmd, id, dir).ok(t)
			testutil.CheckRootfs(t, filepath.Join(dir, "rootfs"), want)
			b, err := os.ReadFile(filepath.Join(dir, "manifest"))
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				ACKind string `json:"acKind"`
			}
			if err := json.Unmarshal(b, &m); err != nil || m.ACKind != "ImageManifest" {
				t.Errorf("%s/manifest: %v, acKind %q\n%s", dir, err, m.ACKind, b)
			}
			// The rootfs only.
			ro := filepath.Join(base, "rootfs-only")
			rkt(t, e, "image", cmd, "--rootfs-only", id, ro).ok(t)
			testutil.CheckRootfs(t, ro, want)
			if fileExists(filepath.Join(ro, "manifest")) || fileExists(filepath.Join(ro, "rootfs")) {
				t.Errorf("--rootfs-only wrote a manifest or rootfs/ in %s", ro)
			}
			// An existing directory needs --overwrite, and is untouched
			// without it.
			if err := os.WriteFile(filepath.Join(ro, "marker"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := rkt(t, e, "image", cmd, "--rootfs-only", id, ro)
			mentions(t, "error", r.errorLine(t, "image "+cmd+": "), ro)
			if !fileExists(filepath.Join(ro, "marker")) {
				t.Errorf("a refused %s changed %s", cmd, ro)
			}
			rkt(t, e, "image", cmd, "--rootfs-only", "--overwrite", id, ro).ok(t)
			testutil.CheckRootfs(t, ro, want)
			if fileExists(filepath.Join(ro, "marker")) {
				t.Errorf("%s --overwrite kept the old content of %s", cmd, ro)
			}
			if ents, _ := os.ReadDir(base); len(ents) != 2 {
				t.Errorf("%s left temporary files in %s: %v", cmd, base, ents)
			}
			r = rkt(t, e, "image", cmd, "sha256-dddddddd", filepath.Join(base, "none"))
			mentions(t, "error", r.errorLine(t, "image "+cmd+": "), "sha256-dddddddd")
		})
	}
}

func TestImageGC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	for _, seed := range []string{"gc-a", "gc-b"} {
		mustFetch(t, e, "docker://"+evil.Seed(t, "gc/"+seed, "v1", tinyImage(t, seed)))
	}
	// Only the image data counts here: gc also removes what interrupted
	// commands left in tmp/ and locks/, and the per-object lock files of
	// the fetches above are such leftovers once no rkt runs.
	data := func() snapshot {
		var out snapshot
		for _, l := range storeSnapshot(t, e.dir) {
			if strings.HasPrefix(l, "locks/") || strings.HasPrefix(l, "tmp/") {
				continue
			}
			out = append(out, l)
		}
		return out
	}
	before := data()
	r := rkt(t, e, "image", "gc", "--grace-period=24h").ok(t)
	if r.stdout != "" {
		t.Errorf("gc with a grace period removed something:\n%s", r)
	}
	if after := data(); !slices.Equal(before, after) {
		t.Errorf("gc --grace-period=24h changed the image data:\nbefore %v\nafter %v", before, after)
	}
	if n := len(listImages(t, e)); n != 2 {
		t.Errorf("%d images after gc --grace-period=24h, want 2", n)
	}

	r = rkt(t, e, "image", "gc", "--grace-period=0s").ok(t)
	if n := len(lines(r.stdout)); n != 2 {
		t.Errorf("gc --grace-period=0s reported %d removed images, want 2:\n%s", n, r)
	}
	for _, d := range []string{"layers", "blobs/sha256", "images", "refs", "tmp", "locks"} {
		storeDirEmpty(t, e, d)
	}
	if n := len(listImages(t, e)); n != 0 {
		t.Errorf("%d images after gc --grace-period=0s", n)
	}
	r = rkt(t, e, "image", "gc", "--grace-period=-1s")
	r.errorLine(t, "image gc: ")
}

func TestImageVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := tinyImage(t, "verify")
	layout := filepath.Join(t.TempDir(), "layout")
	testutil.WriteOCILayout(t, layout, img, "")
	id := mustFetch(t, e, "oci:"+layout)

	r := rkt(t, e, "image", "verify", id).ok(t)
	mentions(t, "verify output", r.stdout, "verified")

	// A modified file in a rendered layer is repaired.
	seedLayer := diffIDs(t, img)[1]
	seedFile := filepath.Join(e.store(), "layers", "sha256-"+seedLayer.Hex, "rootfs", "etc", "seed")
	if err := os.WriteFile(seedFile, []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = rkt(t, e, "image", "verify", id).ok(t)
	mentions(t, "verify output", r.stdout, "repaired", "verified")
	if b, err := os.ReadFile(seedFile); err != nil || string(b) != "verify\n" {
		t.Errorf("after verify, %s holds %q (%v), want the original", seedFile, b, err)
	}
	rkt(t, e, "image", "verify", id).ok(t)

	// A corrupt blob is reported.
	blob := layerDigests(t, img)[0]
	blobFile := filepath.Join(e.store(), "blobs", "sha256", blob.Hex)
	b, err := os.ReadFile(blobFile)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blobFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = rkt(t, e, "image", "verify", id).exit(t, 254)
	mentions(t, "verify errors", r.stderr, blob.Hex)
	if strings.Contains(r.stdout, "verified") {
		t.Errorf("a corrupt image is reported verified:\n%s", r)
	}
	rkt(t, e, "image", "verify", "sha256-cccccccc").exit(t, 254)
}

// TestImageRmKeepsSharedData removes one of two images that share a layer:
// the other keeps working; the rendered layers stay until image gc.
func TestImageRmKeepsSharedData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	shared := randomLayer(t, "shared.bin", 64<<10)
	mk := func(seed string) v1.Image {
		return testutil.Image(t, v1.Config{Cmd: []string{"/" + seed}}, shared,
			testutil.Layer(t, []testutil.TarEntry{testutil.File(seed, 0o644, seed)}, testutil.Gzip))
	}
	a, b := mk("a"), mk("b")
	idA := mustFetch(t, e, "docker://"+evil.Seed(t, "share/a", "v1", a))
	idB := mustFetch(t, e, "docker://"+evil.Seed(t, "share/b", "v1", b))

	rkt(t, e, "image", "rm", idA).ok(t)
	rkt(t, e, "image", "verify", idB).ok(t)
	out := filepath.Join(t.TempDir(), "b")
	rkt(t, e, "image", "render", "--rootfs-only", idB, out).ok(t)
	for _, f := range []string{"shared.bin", "b"} {
		if !fileExists(filepath.Join(out, f)) {
			t.Errorf("render of the remaining image lacks %s", f)
		}
	}
	// a's own layer is still rendered (pods may use it) until gc.
	own := filepath.Join(e.store(), "layers", "sha256-"+diffIDs(t, a)[1].Hex)
	if !fileExists(own) {
		t.Errorf("image rm removed the rendered layer %s; it should stay until image gc", own)
	}
	rkt(t, e, "image", "gc", "--grace-period=24h").ok(t)
	if fileExists(own) {
		t.Errorf("image gc kept the unused rendered layer %s", own)
	}
	for _, d := range diffIDs(t, b) {
		if !fileExists(filepath.Join(e.store(), "layers", "sha256-"+d.Hex)) {
			t.Errorf("image gc removed layer %s of a kept image", d)
		}
	}
	rkt(t, e, "image", "verify", idB).ok(t)

	// A rendered layer removed by hand is rendered again by verify.
	dir := filepath.Join(e.store(), "layers", "sha256-"+diffIDs(t, b)[1].Hex)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	rkt(t, e, "image", "verify", idB).ok(t)
	if !fileExists(filepath.Join(dir, "rootfs", "b")) {
		t.Errorf("verify did not render the missing layer %s again", dir)
	}
}

// TestFailedFetchKeepsSharedData: an image whose fetch fails shares a layer
// with a stored image; the failure must leave the store exactly as it was,
// the shared blob and rendered layer included.
func TestFailedFetchKeepsSharedData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	shared := randomLayer(t, "shared.bin", 64<<10)
	good := testutil.Image(t, v1.Config{Cmd: []string{"/good"}}, shared)
	bad := testutil.Image(t, v1.Config{Cmd: []string{"/bad"}}, shared,
		testutil.Layer(t, []testutil.TarEntry{testutil.File("bad", 0o644, strings.Repeat("bad ", 1000))}, testutil.Gzip))
	id := mustFetch(t, e, "docker://"+evil.Seed(t, "keep/good", "v1", good))
	badRef := evil.Seed(t, "keep/bad", "v1", bad)

	for _, fault := range []testutil.Fault{testutil.FaultShortBlob, testutil.FaultBlobDigestMismatch, testutil.FaultTruncatedBlob} {
		evil.SetFault(fault)
		before := storeSnapshot(t, e.dir)
		r := fetch(t, e, "docker://"+badRef)
		r.errorLine(t, "fetch: ")
		sameStore(t, e, before)
	}
	evil.SetFault(testutil.FaultNone)
	rkt(t, e, "image", "verify", id).ok(t)
	// And the image fetches fine once the registry behaves.
	mustFetch(t, e, "docker://"+badRef)
}
