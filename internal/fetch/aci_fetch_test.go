package fetch

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/image"
	"github.com/rkt/rkt/internal/store"
	"github.com/rkt/rkt/internal/testutil"
	"github.com/rkt/rkt/internal/trust"
)

// aciDeps is an ACI manifest of name with the dependencies (JSON) given.
func aciDeps(name, deps string) string {
	m := testutil.ACIManifest(name, "1", "")
	if deps == "" {
		return m
	}
	return strings.TrimSuffix(m, "}") + `,"dependencies":` + deps + "}"
}

func testFetcher(t *testing.T) *Fetcher {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "store"), store.Shared)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	base := t.TempDir()
	return &Fetcher{
		Store:      s,
		PullPolicy: store.PullNew,
		Insecure:   Insecure{HTTP: true},
		Keystore:   trust.Keystore{System: filepath.Join(base, "system"), Local: filepath.Join(base, "local")},
	}
}

// signer is an OpenPGP key trusted for prefix in f's keystore.
func signer(t *testing.T, f *Fetcher, prefix string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("Signer", "", "signer@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if prefix != "" {
		if _, err := f.Keystore.AddKey(e, prefix, false); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func detachSign(t *testing.T, e *openpgp.Entity, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, e, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// aciServer serves an ACI at /app.aci and its signature at /app.aci.asc
// (404 when sig is nil). It records whether the signature was asked for
// before the ACI's body was sent: the ACI's answer sends its headers, then
// waits a while for the signature request, and a while more for the
// client to give up, before it sends the body.
type aciServer struct {
	*httptest.Server
	ascFirst atomic.Bool
	ascSeen  atomic.Int32
	bodySent atomic.Bool
}

func newACIServer(t *testing.T, aci, sig []byte) *aciServer {
	t.Helper()
	s := &aciServer{}
	asked := make(chan struct{})
	var once sync.Once
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app.aci.asc":
			s.ascSeen.Add(1)
			// Recorded here, not where the body waits: a client that
			// gives up at once (no signature) ends that wait too, and a
			// select between the two would pick either.
			if !s.bodySent.Load() {
				s.ascFirst.Store(true)
			}
			once.Do(func() { close(asked) })
			if sig == nil {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(sig)
		case "/app.aci":
			w.Header().Set("Content-Length", fmt.Sprint(len(aci)))
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-asked:
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
			select {
			case <-time.After(500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			s.bodySent.Store(true)
			_, _ = w.Write(aci)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestFetchACIURL(t *testing.T) {
	aci := testutil.ACI(t, testutil.ACIManifest("example.com/app", "1", ""), testutil.File("etc/msg", 0o644, "hi"))
	tests := []struct {
		name     string
		insecure bool
		sign     string // "trusted", "untrusted" or "" (no signature served)
		wantErr  string
		wantKind errdefs.Kind
	}{
		{name: "signed by a trusted key", sign: "trusted"},
		{name: "signed by an untrusted key", sign: "untrusted", wantErr: "signature verification failed", wantKind: errdefs.KindPermission},
		{name: "no signature", wantErr: "error downloading the signature", wantKind: errdefs.KindPermission},
		{name: "no signature, --insecure-options=image", insecure: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := testFetcher(t)
			f.Insecure.Image = tc.insecure
			var notes []string
			f.Notef = func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
			var sig []byte
			switch tc.sign {
			case "trusted":
				sig = detachSign(t, signer(t, f, "example.com/app"), aci)
			case "untrusted":
				sig = detachSign(t, signer(t, f, ""), aci)
			}
			srv := newACIServer(t, aci, sig)
			res, err := f.Fetch(context.Background(), srv.URL+"/app.aci")
			if tc.insecure && srv.ascSeen.Load() != 0 {
				t.Errorf("the signature was asked for with --insecure-options=image")
			}
			if !tc.insecure && !srv.ascFirst.Load() {
				t.Errorf("the signature was not asked for before the ACI's body")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errdefs.Is(err, tc.wantKind) {
					t.Fatalf("Fetch = %v, want a %v error with %q", err, tc.wantKind, tc.wantErr)
				}
				if tc.sign == "" && srv.bodySent.Load() {
					t.Errorf("the ACI's body was sent though its signature is missing")
				}
				if f.Store.HasBlob(digest.SHA512.FromBytes(aci)) {
					t.Errorf("the refused ACI is in the store")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Image.ID != digest.SHA512.FromBytes(aci) {
				t.Errorf("image ID %s, want the sha512 of the file", res.Image.ID)
			}
			if res.Image.Source != srv.URL+"/app.aci" {
				t.Errorf("image source %q, want its URL", res.Image.Source)
			}
			if len(res.ACI) != 1 || res.ACI[0].Image.ID != res.Image.ID || res.ACI[0].Parent != -1 {
				t.Errorf("ACI tree %+v, want the image alone", res.ACI)
			}
			if b, err := os.ReadFile(filepath.Join(res.ACI[0].Dir, "rootfs", "etc", "msg")); err != nil || string(b) != "hi" {
				t.Errorf("rendered etc/msg = %q, %v", b, err)
			}
			if tc.sign == "trusted" && !strings.Contains(strings.Join(notes, "\n"), "signer@example.com") {
				t.Errorf("notes %q do not name the signer", notes)
			}
		})
	}
}

// TestFetchACIURLErrorsNameURL: an ACI that cannot be read is named by its
// URL, not by the temporary file it was downloaded to, with or without a
// signature to check.
func TestFetchACIURLErrorsNameURL(t *testing.T) {
	notACI := []byte("this is not a tar")
	for _, insecure := range []bool{true, false} {
		f := testFetcher(t)
		f.Insecure.Image = insecure
		srv := newACIServer(t, notACI, detachSign(t, signer(t, f, "example.com/app"), notACI))
		_, err := f.Fetch(context.Background(), srv.URL+"/app.aci")
		if err == nil || !strings.Contains(err.Error(), "image "+srv.URL+"/app.aci: ") || strings.Contains(err.Error(), "aci-") {
			t.Errorf("insecure %v: Fetch = %v, want an error naming %s/app.aci", insecure, err, srv.URL)
		}
	}
}

// The signature file is checked, and read before the whole ACI, from the
// bytes the store keeps: a file whose manifest name changes between the
// manifest and the whole read is refused.
func TestReadVerified(t *testing.T) {
	f := testFetcher(t)
	key := signer(t, f, "example.com/app")
	aci := testutil.ACI(t, testutil.ACIManifest("example.com/app", "1", ""))
	// Two manifests: the first names a trusted prefix, the last (which
	// the rendered tree keeps) another name.
	twoManifests := testutil.TarBytes(t, []testutil.TarEntry{
		testutil.File("manifest", 0o644, testutil.ACIManifest("example.com/app", "1", "")),
		testutil.Dir("rootfs/", 0o755),
		testutil.File("manifest", 0o644, testutil.ACIManifest("example.com/evil", "1", "")),
	})
	// A manifest, then what is not a tar header.
	corrupt := testutil.ACIBrokenAfterManifest(t, testutil.ACIManifest("example.com/app", "1", ""), 1024)
	untrusted := testutil.ACIBrokenAfterManifest(t, testutil.ACIManifest("example.com/other", "1", ""), 1024)
	tests := []struct {
		name    string
		data    []byte
		sig     []byte
		wantErr string
	}{
		{name: "good", data: aci, sig: detachSign(t, key, aci)},
		{name: "signature of other bytes", data: aci, sig: detachSign(t, key, append(aci, 0)), wantErr: "signature verification failed"},
		{name: "garbage signature", data: aci, sig: []byte("not a signature"), wantErr: "signature verification failed"},
		{name: "two manifests", data: twoManifests, sig: detachSign(t, key, twoManifests), wantErr: "changed while it was read"},
		{name: "corrupt after the manifest", data: corrupt, sig: []byte("not a signature"), wantErr: "read tar"},
		// No key is trusted for its name: refused before the image is
		// read at all (the tar error after its manifest is never met).
		{name: "untrusted name", data: untrusted, sig: detachSign(t, key, untrusted), wantErr: "no key is trusted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "app.aci")
			if err := os.WriteFile(file, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var a *image.ACIFile
			var err error
			go func() {
				defer close(done)
				fh, oerr := os.Open(file)
				if oerr != nil {
					err = oerr
					return
				}
				defer fh.Close()
				a, err = f.readVerified(context.Background(), file, fh, file, tc.sig)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("readVerified does not return")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readVerified = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Digest != digest.SHA512.FromBytes(tc.data) || a.Size != int64(len(tc.data)) {
				t.Errorf("read %s (%d bytes), want the file's sha512", a.Digest, a.Size)
			}
		})
	}
}

// One client per Fetcher: sequential downloads share a connection.
func TestFetcherReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("key"))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	f := testFetcher(t)
	for range 3 {
		body, err := f.Get(context.Background(), srv.URL+"/key")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := body.Read(make([]byte, 16)); err != nil && err.Error() != "EOF" {
			t.Fatal(err)
		}
		body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1", n)
	}
}

func TestFetchDependencyTree(t *testing.T) {
	f := testFetcher(t)
	f.Insecure.Image = true
	dir := t.TempDir()
	put := func(name, deps string) digest.Digest {
		t.Helper()
		file := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".aci")
		data := testutil.ACI(t, aciDeps(name, deps), testutil.File("who/"+strings.TrimPrefix(name, "example.com/"), 0o644, name))
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		img, err := f.ImportACIFile(context.Background(), file)
		if err != nil {
			t.Fatal(err)
		}
		return img.ID
	}
	base := put("example.com/base", "")
	libID := put("example.com/lib", `[{"imageName":"example.com/base"}]`)
	tool := put("example.com/tool", `[{"imageName":"example.com/base","labels":[{"name":"version","value":"1"}]}]`)
	app := put("example.com/app", `[{"imageName":"example.com/lib","imageID":"sha512-`+libID.Encoded()+`"},{"imageName":"example.com/tool"}]`)
	cycle := put("example.com/cyc", `[{"imageName":"example.com/cyc"}]`)
	pinned := put("example.com/pinned", `[{"imageName":"example.com/lib","imageID":"sha512-`+strings.Repeat("0", 128)+`"}]`)
	missing := put("example.com/missing", `[{"imageName":"example.com/nowhere"}]`)
	f.PullPolicy = store.PullNever

	type node struct {
		id     digest.Digest
		parent int
	}
	tests := []struct {
		name    string
		id      digest.Digest
		want    []node
		wantErr string
	}{
		{name: "no dependencies", id: base, want: []node{{base, -1}}},
		{name: "depth first, the image first", id: app, want: []node{{app, -1}, {libID, 0}, {base, 1}, {tool, 0}, {base, 3}}},
		{name: "cycle", id: cycle, wantErr: "dependency cycle"},
		{name: "pinned ID not found", id: pinned, wantErr: "dependency example.com/lib"},
		{name: "missing", id: missing, wantErr: "dependency example.com/nowhere"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.Fetch(context.Background(), "sha512-"+tc.id.Encoded())
			stored, serr := StoredACITree(f.Store, mustImage(t, f.Store, tc.id))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch = %v, want %q", err, tc.wantErr)
				}
				if serr == nil {
					t.Fatalf("StoredACITree succeeds where Fetch fails with %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if serr != nil {
				t.Fatal(serr)
			}
			for _, tree := range [][]aci.Node{res.ACI, stored} {
				var got []node
				for _, n := range tree {
					got = append(got, node{n.Image.ID, n.Parent})
					if n.Manifest == nil || n.Manifest.Name.String() != n.Image.Name[:strings.Index(n.Image.Name, ":")] {
						t.Errorf("node %s: manifest %v", n.Image.Name, n.Manifest)
					}
					if _, err := os.Stat(filepath.Join(n.Dir, "manifest")); err != nil {
						t.Errorf("node %s: %v", n.Image.Name, err)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("tree %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func mustImage(t *testing.T, s *store.Store, id digest.Digest) *store.Image {
	t.Helper()
	img, err := s.Image(id)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
