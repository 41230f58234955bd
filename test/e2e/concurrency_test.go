package e2e

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/testutil"
)

// TestConcurrentFetchSharedLayer starts two rkt fetch processes at once,
// for two images that share a large layer: both must succeed, and the
// shared blob must be downloaded (and rendered) exactly once. The fetches
// must really overlap (a store lock that serialized them would make the
// test meaningless), so the registry holds the shared blob until both
// processes have asked for their manifest, for up to sharedBlobHold: a
// fetch that cannot ask before the other has finished fails the test.
func TestConcurrentFetchSharedLayer(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	const sharedBlobHold = 20 * time.Second
	shared := randomLayer(t, "shared.bin", 20<<20)
	sharedDigest, err := shared.Digest()
	if err != nil {
		t.Fatal(err)
	}
	sharedDiffID, err := shared.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	var (
		evil       *testutil.EvilRegistry
		overlapped atomic.Bool
	)
	evil = testutil.StartEvilRegistry(t, testutil.EvilOptions{ // FaultNone: a faithful registry that counts requests
		BeforeBlob: func(r *http.Request, d string) {
			if r.Method != http.MethodGet || d != sharedDigest.String() {
				return
			}
			for deadline := time.Now().Add(sharedBlobHold); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				// Each process has asked for its own image's manifest
				// (an index and its manifest would be two GETs of one).
				reqs := evil.Requests()
				if countRequests(reqs, "GET", "/race/a/manifests/") >= 1 && countRequests(reqs, "GET", "/race/b/manifests/") >= 1 {
					overlapped.Store(true)
					return
				}
			}
		},
	})
	mk := func(seed string) v1.Image {
		return testutil.Image(t, v1.Config{Cmd: []string{"/bin/" + seed}},
			shared,
			testutil.Layer(t, []testutil.TarEntry{testutil.File("own-"+seed, 0o644, seed)}, testutil.Gzip),
		)
	}
	a, b := mk("a"), mk("b")
	refA := evil.Seed(t, "race/a", "v1", a)
	refB := evil.Seed(t, "race/b", "v1", b)

	e := newEnv(t)
	initStore(t, e)
	runs := fetchAtOnce(t, e, []string{"docker://" + refA, "docker://" + refB})
	reqs := evil.Requests()
	for i, img := range []v1.Image{a, b} {
		r := runs[i]
		if r.code != 0 {
			t.Fatalf("concurrent fetch failed:\n%s", r)
		}
		if got, want := r.singleID(t), shortID(digestOf(t, img)); got != want {
			t.Errorf("concurrent fetch printed %s, want %s", got, want)
		}
	}
	if !overlapped.Load() {
		t.Errorf("the two fetches never overlapped: the second asked for its manifest only after the registry had held the shared layer for %v; is the store lock serializing fetches? Requests:\n%v", sharedBlobHold, reqs)
	}
	if n := countRequests(reqs, "GET", "/blobs/"+sharedDigest.String()); n != 1 {
		t.Errorf("the shared layer blob was downloaded %d times, want once; requests:\n%v", n, reqs)
	}
	for _, img := range []v1.Image{a, b} {
		for _, d := range layerDigests(t, img)[1:] {
			if n := countRequests(reqs, "GET", "/blobs/"+d.String()); n != 1 {
				t.Errorf("layer blob %s was downloaded %d times, want once", d, n)
			}
		}
	}
	// One rendered copy of the shared layer, complete.
	st, err := os.Stat(filepath.Join(e.store(), "layers", "sha256-"+sharedDiffID.Hex, "rootfs", "shared.bin"))
	if err != nil || st.Size() != 20<<20 {
		t.Errorf("rendered shared layer: %v, %v", st, err)
	}
	storeDirEmpty(t, e, "tmp")
	for _, img := range []v1.Image{a, b} {
		rkt(t, e, "image", "verify", shortID(digestOf(t, img))).ok(t)
	}
}

// fetchAtOnce starts one `rkt fetch` process per input at the same time and
// returns their results in order.
func fetchAtOnce(t *testing.T, e *env, inputs []string) []result {
	t.Helper()
	runs := make([]result, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		args := append(e.globalFlags(), insecureImageHTTP, "fetch", in)
		cmd, stdout, stderr, cancel := rktCommand(e, args...)
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("start rkt: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			err := cmd.Wait()
			runs[i] = finishNoFatal(args, err, stdout.String(), stderr.String())
		}()
	}
	wg.Wait()
	return runs
}

// finishNoFatal is finish for use off the test goroutine.
func finishNoFatal(args []string, err error, stdout, stderr string) result {
	res := result{args: args, stdout: stdout, stderr: stderr}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	default:
		res.code = -1
		res.stderr += "\n(e2e: " + err.Error() + ")"
	}
	return res
}

// TestConcurrentFetchSameImage fetches one image from three processes at
// once: all print its ID, and each blob is downloaded once.
func TestConcurrentFetchSameImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	img := testutil.Image(t, v1.Config{Cmd: []string{"/x"}}, randomLayer(t, "big.bin", 4<<20), randomLayer(t, "small.bin", 64<<10))
	ref := "docker://" + evil.Seed(t, "same/app", "v1", img)
	initStore(t, e)
	want := shortID(digestOf(t, img))
	for _, r := range fetchAtOnce(t, e, []string{ref, ref, ref}) {
		if r.code != 0 {
			t.Fatalf("concurrent fetch failed:\n%s", r)
		}
		if got := r.singleID(t); got != want {
			t.Errorf("concurrent fetch printed %s, want %s", got, want)
		}
	}
	for _, d := range layerDigests(t, img) {
		if n := countRequests(evil.Requests(), "GET", "/blobs/"+d.String()); n != 1 {
			t.Errorf("layer blob %s was downloaded %d times, want once", d, n)
		}
	}
	if js := listImages(t, e); len(js) != 1 {
		t.Errorf("image list after concurrent fetches of one image: %+v", js)
	}
	storeDirEmpty(t, e, "tmp")
	rkt(t, e, "image", "verify", want).ok(t)
}

// TestFetchKilled kills rkt fetch with SIGKILL at several moments: the
// store must never show a partial image, the next fetch must succeed, and
// image gc must clear what the killed fetch left (SECURITY.md rule 6).
func TestFetchKilled(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{})
	img := testutil.Image(t, v1.Config{Cmd: []string{"/x"}}, randomLayer(t, "big.bin", 16<<20), randomLayer(t, "other.bin", 1<<20))
	ref := "docker://" + evil.Seed(t, "killed/app", "v1", img)
	want := shortID(digestOf(t, img))
	for _, delay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			e := newEnv(t)
			initStore(t, e)
			args := append(e.globalFlags(), insecureImageHTTP, "fetch", ref)
			cmd, _, _, cancel := rktCommand(e, args...)
			defer cancel()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			_ = cmd.Process.Signal(unix.SIGKILL)
			_ = cmd.Wait()

			// Whatever is listed is complete.
			for _, j := range listImages(t, e) {
				rkt(t, e, "image", "verify", j.ID).ok(t)
			}
			if got := mustFetch(t, e, ref); got != want {
				t.Errorf("fetch after a killed fetch printed %s, want %s", got, want)
			}
			rkt(t, e, "image", "verify", want).ok(t)
			rkt(t, e, "image", "gc", "--grace-period=24h").ok(t)
			storeDirEmpty(t, e, "tmp")
			storeDirEmpty(t, e, "locks")
			rkt(t, e, "image", "verify", want).ok(t)
		})
	}
}
