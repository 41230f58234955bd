package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/testutil"
)

// TestFetchBadInput checks SECURITY.md rule 11 for inputs that are wrong
// before any registry misbehaves: exit 254, one stderr line "fetch: ..."
// naming the bad input, nothing on stdout, the store as before.
func TestFetchBadInput(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	reg.Push(t, reg.Ref("bad/app", "v1"), tinyImage(t, "bad-input"))
	tmp := t.TempDir()
	notArchive := filepath.Join(tmp, "not-an-archive.tar")
	if err := os.WriteFile(notArchive, []byte("this is not a tar archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Long enough for a tar header block, but garbage.
	garbage := filepath.Join(tmp, "garbage.tar")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("garbage!", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyDir := filepath.Join(tmp, "empty-dir")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		input string
		names []string // what the error line must mention
	}{
		{"digest not a digest", "docker://" + reg.Addr + "/x@sha256:zzz", []string{"sha256:zzz"}},
		{"digest too short", "docker://" + reg.Addr + "/bad/app@sha256:abcd", []string{"sha256:abcd"}},
		{"unknown transport", "foo://bar", []string{"foo"}},
		{"missing tag", "docker://" + reg.Ref("bad/app", "no-such-tag"), []string{"no-such-tag"}},
		{"missing repository", "docker://" + reg.Ref("bad/no-such-repo", "v1"), []string{"bad/no-such-repo"}},
		{"missing oci layout dir", "oci:" + filepath.Join(tmp, "no-such-dir"), []string{filepath.Join(tmp, "no-such-dir")}},
		{"oci dir that is not a layout", "oci:" + emptyDir, []string{emptyDir}},
		{"missing oci archive", "oci-archive:" + filepath.Join(tmp, "no-such.tar"), []string{"no-such.tar"}},
		{"oci archive that is not an archive", "oci-archive:" + notArchive, []string{notArchive}},
		{"oci archive of garbage", "oci-archive:" + garbage, []string{garbage}},
		{"docker archive that is not an archive", "docker-archive:" + notArchive, []string{notArchive}},
		{"docker archive of garbage", "docker-archive:" + garbage, []string{garbage}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			initStore(t, e)
			before := storeSnapshot(t, e.dir)
			r := fetch(t, e, c.input)
			mentions(t, "error", r.errorLine(t, "fetch: "), c.names...)
			sameStore(t, e, before)
		})
	}
}

// TestFetchEvilRegistry fetches a good image from a registry that breaks
// the protocol in one way each time: every fault must be refused with one
// error line, nothing on stdout and the store as before.
func TestFetchEvilRegistry(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	// What each fault's error must name, besides the image.
	names := map[testutil.Fault][]string{
		testutil.FaultBlobDigestMismatch:       {"digest"},
		testutil.FaultConfigDigestMismatch:     {"config", "digest"},
		testutil.FaultTruncatedBlob:            {"layer"},
		testutil.FaultShortBlob:                {"layer"},
		testutil.FaultHugeManifest:             {"manifest", "limit"},
		testutil.FaultHugeManifestLength:       {"manifest", "limit"},
		testutil.FaultManifestDigestMismatch:   {"manifest", "digest"},
		testutil.FaultUnknownManifestMediaType: {testutil.UnknownManifestMediaType},
		testutil.FaultConfigNotJSON:            {"config"},
		testutil.FaultBadDigest:                {testutil.BadDigest},
	}
	for _, fault := range testutil.AllFaults() {
		if fault == testutil.FaultRedirectAuthLeak {
			continue // TestFetchRedirectDoesNotLeakCredentials
		}
		t.Run(fault.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{Fault: fault})
			img := tinyImage(t, "evil-"+fault.String())
			ref := evil.Seed(t, "evil/app", "v1", img)
			want, ok := names[fault]
			if !ok {
				t.Fatalf("no expectation for fault %s", fault)
			}
			initStore(t, e)
			before := storeSnapshot(t, e.dir)
			inputs := []string{"docker://" + ref}
			switch fault {
			case testutil.FaultUnknownManifestMediaType, testutil.FaultConfigNotJSON, testutil.FaultBadDigest:
				// These serve their variant by tag only.
			default:
				inputs = append(inputs, "docker://"+evil.Ref("evil/app", digestOf(t, img).String()))
			}
			for _, in := range inputs {
				r := fetch(t, e, in)
				line := r.errorLine(t, "fetch: ")
				mentions(t, "error", line, append([]string{"evil/app"}, want...)...)
				sameStore(t, e, before)
			}
			l := rkt(t, e, "image", "list", "--no-legend").ok(t)
			if l.stdout != "" {
				t.Errorf("a refused image is listed:\n%s", l)
			}
		})
	}
}

// TestFetchRedirectDoesNotLeakCredentials: a registry that wants basic auth
// redirects manifest and blob GETs to another host:port. rkt must not send
// the credentials there. The other host serves the right content, which rkt
// checks against the digests, so the fetch succeeds.
func TestFetchRedirectDoesNotLeakCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := testutil.StartEvilRegistry(t, testutil.EvilOptions{Fault: testutil.FaultRedirectAuthLeak})
	img := tinyImage(t, "redirect")
	ref := evil.Seed(t, "redirect/app", "v1", img)
	writeDockerAuth(t, e.localConfig, "evil.json", evil.Addr, evil.Username, evil.Password)

	r := fetch(t, e, "docker://"+ref)
	if evil.LeakedAuth() {
		t.Errorf("rkt sent the credentials to the redirect target %s: %v", evil.RedirectURL, evil.RedirectRequests())
	}
	if len(evil.RedirectRequests()) == 0 {
		t.Errorf("rkt did not follow the redirect (requests: %v)", evil.Requests())
	}
	if got, want := r.ok(t).singleID(t), shortID(digestOf(t, img)); got != want {
		t.Errorf("fetch printed %s, want %s", got, want)
	}
	if strings.Contains(r.stderr, evil.Password) {
		t.Errorf("stderr shows the password:\n%s", r)
	}

	// Without credentials it is refused at the first 401.
	e2 := newEnv(t)
	initStore(t, e2)
	before := storeSnapshot(t, e2.dir)
	n := len(evil.RedirectRequests())
	r = fetch(t, e2, "docker://"+ref)
	mentions(t, "error", r.errorLine(t, "fetch: "), "redirect/app")
	sameStore(t, e2, before)
	if got := evil.RedirectRequests()[n:]; len(got) != 0 {
		t.Errorf("an unauthenticated fetch reached the redirect target: %v", got)
	}
	if evil.LeakedAuth() {
		t.Error("credentials leaked")
	}
}
