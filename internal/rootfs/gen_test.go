package rootfs

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chooser drives the random layer generator: from a PRNG in property
// tests, from fuzz input bytes in FuzzApplyOps.
type chooser interface {
	intn(n int) int
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0]) % n
	c.b = c.b[1:]
	return v
}

func pick[T any](c chooser, xs ...T) T { return xs[c.intn(len(xs))] }

// genName returns a layer entry name built of a few hostile-ish
// components; host is the absolute path of the fake host dir.
func genName(c chooser, host string) string {
	var parts []string
	switch c.intn(8) {
	case 0:
		parts = append(parts, strings.TrimPrefix(host, "/"))
	case 1:
		parts = append(parts, "dev")
	}
	for n := 1 + c.intn(3); n > 0; n-- {
		if c.intn(16) == 0 {
			parts = append(parts, pick(c, "..", "."))
			continue
		}
		parts = append(parts, pick(c, "a", "b", "c", "a", "b", "d", ".wh.a", ".wh.b", ".wh..wh..opq", "victim", "host", "dev", "x y"))
	}
	name := strings.Join(parts, "/")
	switch c.intn(6) {
	case 0:
		name = "/" + name
	case 1:
		name = "./" + name
	case 2:
		name += "/"
	}
	return name
}

func genTarget(c chooser, host string) string {
	switch c.intn(4) {
	case 0:
		return pick(c, "/", ".", "..", "../..", "../host", host, host+"/victim", "/proc/self/root", "a/../../..", "//a")
	case 1:
		return genName(c, host)
	}
	return pick(c, "a", "b", "c", "a/b", "../a", "/b", "d/c")
}

func genEntry(c chooser, host string, prev []tentry) tentry {
	e := tentry{
		name:  genName(c, host),
		mode:  pick[int64](c, 0o644, 0o755, 0o4755, 0o2750, 0o1777, 0o600, 0, 0o777, 0o7777),
		uid:   pick(c, 0, 0, 1000, 65534),
		gid:   pick(c, 0, 0, 5, 1000),
		mtime: time.Unix(int64(pick(c, 0, 1, 1600000000, 2000000000, 4000000000)), int64(c.intn(3))*1000),
	}
	switch c.intn(12) {
	case 0, 1, 2, 3:
		e.typ = tar.TypeReg
		e.body = pick(c, "", "x", "hello\n", strings.Repeat("z", 5000))
		e.name = strings.TrimSuffix(e.name, "/")
	case 4, 5:
		e.typ = tar.TypeDir
	case 6, 7:
		e.typ = tar.TypeSymlink
		e.link = genTarget(c, host)
		e.name = strings.TrimSuffix(e.name, "/")
	case 8:
		e.typ = tar.TypeLink
		e.link = genName(c, host)
		if len(prev) > 0 && c.intn(4) != 0 {
			e.link = prev[c.intn(len(prev))].name
		}
		e.name = strings.TrimSuffix(e.name, "/")
	case 9:
		e.typ = tar.TypeFifo
		e.name = strings.TrimSuffix(e.name, "/")
	case 10:
		e.typ = pick[byte](c, tar.TypeChar, tar.TypeBlock)
		e.major, e.minor = int64(c.intn(3)), int64(c.intn(3))
		e.name = strings.TrimSuffix(e.name, "/")
	case 11:
		e.typ = pick[byte](c, tar.TypeReg, tar.TypeDir)
		e.xattrs = map[string]string{pick(c, "user.a", "user.b", "trusted.overlay.opaque", "security.capability", "user.overlay.x"): pick(c, "", "y", "value")}
		if e.typ == tar.TypeReg {
			e.name = strings.TrimSuffix(e.name, "/")
		}
	}
	if e.name == "" || e.name == "/" {
		e.name = "r"
	}
	return e
}

func genLayer(c chooser, host string, maxEntries int) []tentry {
	var ents []tentry
	for n := 1 + c.intn(maxEntries); n > 0; n-- {
		ents = append(ents, genEntry(c, host, ents))
	}
	return ents
}

// checkContained checks that an applied layer left the host and the canary
// next to the root alone and that the tree holds no mount or escaped link.
func checkContained(t testing.TB, d testDirs) {
	t.Helper()
	d.checkHost(t)
	canary := filepath.Join(d.base, "canary")
	if ents, err := os.ReadDir(canary); err != nil || len(ents) != 0 {
		t.Fatalf("canary dir changed: %v %v", ents, err)
	}
}

func newCanaryDirs(t testing.TB) testDirs {
	d := newDirs(t)
	if err := os.Mkdir(filepath.Join(d.base, "canary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRandomLayers applies many generated hostile layers and checks that
// nothing escapes and that Apply's tree hash always equals TreeHash(dir).
func TestRandomLayers(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	var streamed, walked, failed int
	testHookStreamed = func(s bool) {
		if s {
			streamed++
		} else {
			walked++
		}
	}
	defer func() { testHookStreamed = nil }()
	for i := range n {
		t.Run(fmt.Sprintf("seed%d", i), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			d := newCanaryDirs(t)
			layer := buildTar(t, genLayer(randChooser{r}, d.host, 30))
			mode := WhiteoutMode(i % 2)
			res, err := applyBytes(t, d.root, layer, Options{Whiteouts: mode, Chown: os.Geteuid() == 0})
			checkContained(t, d)
			if err != nil {
				failed++
				return
			}
			if mode == WhiteoutOverlay {
				checkTreeHash(t, d.root, res.TreeHash)
			}
		})
	}
	t.Logf("%d layers: %d failed, tree hash streamed %d, walked %d", n, failed, streamed, walked)
	if streamed == 0 || walked == 0 {
		t.Errorf("the generator does not exercise both tree hash paths")
	}
}

// TestRandomCleanLayers applies generated layers without hostile names, so
// that the streamed tree hash is used, and checks it against TreeHash.
func TestRandomCleanLayers(t *testing.T) {
	var streamed int
	testHookStreamed = func(s bool) {
		if s {
			streamed++
		}
	}
	defer func() { testHookStreamed = nil }()
	for i := range 200 {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		d := newDirs(t)
		var ents []tentry
		seen := map[string]bool{}
		for range 1 + r.IntN(40) {
			e := genEntry(randChooser{r}, d.host, nil)
			p, err := CleanName(e.name)
			if err != nil || p == "" || strings.Contains(p, ".wh.") || seen[p] {
				continue
			}
			if e.typ == tar.TypeSymlink || e.typ == tar.TypeLink {
				continue
			}
			seen[p] = true
			ents = append(ents, e)
		}
		if len(ents) == 0 {
			continue
		}
		res, err := applyBytes(t, d.root, buildTar(t, ents), Options{Chown: os.Geteuid() == 0})
		if err != nil {
			continue // a file used as a parent, say
		}
		checkTreeHash(t, d.root, res.TreeHash)
	}
	if streamed < 50 {
		t.Errorf("only %d streamed tree hashes", streamed)
	}
}
