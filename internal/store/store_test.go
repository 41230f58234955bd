package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

func openTest(t testing.TB, mode LockMode) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"), mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randomBlob(t testing.TB, n int) ([]byte, digest.Digest) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, digest.FromBytes(b)
}

func opener(b []byte) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func TestOpenCreatesVersionedLayout(t *testing.T) {
	s := openTest(t, Shared)
	v, err := os.ReadFile(filepath.Join(s.Dir(), "version"))
	if err != nil || strings.TrimSpace(string(v)) != "1" {
		t.Fatalf("version file = %q, %v; want 1", v, err)
	}
	for _, d := range subdirs {
		st, err := os.Stat(filepath.Join(s.Dir(), d.name))
		if err != nil || !st.IsDir() {
			t.Fatalf("%s: %v", d.name, err)
		}
	}
	st, _ := os.Stat(filepath.Join(s.Dir(), "layers"))
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("layers/ mode %v lets others in; it may hold setuid binaries from images", st.Mode().Perm())
	}
}

func TestOpenRefusesNewerVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Shared)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte("99\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Shared)
	if err == nil || !strings.Contains(err.Error(), "newer than this rkt supports") {
		t.Fatalf("open of a version 99 store: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Shared); err == nil {
		t.Fatal("open of a store with a garbage version succeeded")
	}
}

func TestMigrationsRunInOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Shared)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte("0\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	ran := 0
	migrations[0] = func(*Store) error { ran++; return nil }
	defer delete(migrations, 0)
	s, err = Open(dir, Shared)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	v, _ := os.ReadFile(filepath.Join(dir, "version"))
	if ran != 1 || strings.TrimSpace(string(v)) != "1" {
		t.Fatalf("migration ran %d times, version now %q", ran, v)
	}
	// A failed migration leaves the old version for the next try.
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte("0\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	migrations[0] = func(*Store) error { return errors.New("boom") }
	if _, err := Open(dir, Shared); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing migration: %v", err)
	}
	v, _ = os.ReadFile(filepath.Join(dir, "version"))
	if strings.TrimSpace(string(v)) != "0" {
		t.Fatalf("version after a failed migration = %q, want 0", v)
	}
}

func TestPutBlob(t *testing.T) {
	data, d := randomBlob(t, 4096)
	other, _ := randomBlob(t, 4096)
	for _, tc := range []struct {
		name    string
		d       digest.Digest
		size    int64
		content []byte
		kind    errdefs.Kind
	}{
		{"good", d, 4096, data, errdefs.KindUnknown},
		{"wrong content", d, 4096, other, errdefs.KindDigestMismatch},
		{"short", d, 4096, data[:100], errdefs.KindDigestMismatch},
		{"long", d, 4096, append(append([]byte{}, data...), 'x'), errdefs.KindDigestMismatch},
		{"size lies", d, 100, data, errdefs.KindDigestMismatch},
		{"not a digest", "sha256:../../etc/passwd", 4096, data, errdefs.KindInvalidArgument},
		{"unknown algorithm", "md5:d41d8cd98f00b204e9800998ecf8427e", 4096, data, errdefs.KindInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Shared)
			got, err := s.PutBlob(context.Background(), tc.d, tc.size, opener(tc.content), nil)
			if tc.kind == errdefs.KindUnknown {
				if err != nil || !got || !s.HasBlob(tc.d) {
					t.Fatalf("PutBlob = %v, %v; has=%v", got, err, s.HasBlob(tc.d))
				}
				return
			}
			if !errdefs.Is(err, tc.kind) {
				t.Fatalf("PutBlob error = %v, want kind %v", err, tc.kind)
			}
			if s.HasBlob(tc.d) {
				t.Fatal("a bad blob became visible")
			}
			if entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(entries) != 0 {
				t.Fatalf("tmp/ not cleaned: %v", entries)
			}
		})
	}
}

func TestPutBlobConcurrentDownloadsOnce(t *testing.T) {
	s := openTest(t, Shared)
	data, d := randomBlob(t, 1<<20)
	var calls atomic.Int32
	open := func(context.Context) (io.ReadCloser, error) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutBlob(context.Background(), d, int64(len(data)), open, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("blob read %d times, want 1", n)
	}
}

func TestVerifyBlobRemovesCorrupt(t *testing.T) {
	s := openTest(t, Shared)
	data, d := randomBlob(t, 1000)
	if _, err := s.PutBlob(context.Background(), d, 1000, opener(data), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyBlob(d); err != nil {
		t.Fatal(err)
	}
	p, _ := s.BlobPath(d)
	if err := os.WriteFile(p, []byte("corrupt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyBlob(d); !errdefs.Is(err, errdefs.KindDigestMismatch) {
		t.Fatalf("VerifyBlob of a corrupt blob = %v", err)
	}
	if s.HasBlob(d) {
		t.Fatal("corrupt blob kept")
	}
}

// putTestImage stores an image of two small blobs (no layers).
func putTestImage(t testing.TB, s *Store, name string) *Image {
	t.Helper()
	man, md := randomBlob(t, 200)
	cfg, cd := randomBlob(t, 100)
	for _, b := range []struct {
		data []byte
		d    digest.Digest
	}{{man, md}, {cfg, cd}} {
		if err := s.PutBlobBytes(b.d, b.data); err != nil {
			t.Fatal(err)
		}
	}
	img := &Image{ID: md, Name: name, Config: cd, ConfigSize: 100, ManifestSize: 200, ImportTime: time.Now(), LastUsed: time.Now()}
	if err := s.PutImage(img); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImagesAndLookups(t *testing.T) {
	s := openTest(t, Exclusive)
	a := putTestImage(t, s, "example.com/a:1")
	b := putTestImage(t, s, "example.com/b:1")
	imgs, err := s.Images()
	if err != nil || len(imgs) != 2 {
		t.Fatalf("Images = %d, %v", len(imgs), err)
	}
	if got, err := s.LookupName("example.com/a:1"); err != nil || got.ID != a.ID {
		t.Fatalf("LookupName = %v, %v", got, err)
	}
	if _, err := s.LookupName("example.com/c:1"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("LookupName of a missing name = %v", err)
	}
	for _, p := range []string{FormatID(a.ID), a.ID.String(), ShortID(a.ID, 12)} {
		if got, err := s.LookupID(p); err != nil || got.ID != a.ID {
			t.Fatalf("LookupID(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := s.LookupID("sha256-"); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("LookupID of an empty prefix = %v", err)
	}
	// Find a prefix both share, or prove none is ambiguous.
	if a.ID.Encoded()[0] == b.ID.Encoded()[0] {
		if _, err := s.LookupID("sha256-" + a.ID.Encoded()[:1] + a.ID.Encoded()[:0]); err == nil {
			t.Log("one-digit prefixes are refused as too short")
		}
	}
	if _, err := s.LookupID("sha256-" + strings.Repeat("0", 40)); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("LookupID of no match = %v", err)
	}
	// The name moves to a newer image.
	c := putTestImage(t, s, "example.com/a:1")
	if got, _ := s.LookupName("example.com/a:1"); got.ID != c.ID {
		t.Fatal("name did not move to the newer image")
	}
	if err := s.RemoveImage(c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupName("example.com/a:1"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("name of a removed image still resolves: %v", err)
	}
	for _, d := range c.Blobs() {
		if s.HasBlob(d) {
			t.Fatalf("blob %s of a removed image kept", d)
		}
	}
	for _, d := range a.Blobs() {
		if !s.HasBlob(d) {
			t.Fatalf("blob %s of a kept image removed", d)
		}
	}
}

func TestRemoveNeedsExclusive(t *testing.T) {
	s := openTest(t, Shared)
	img := putTestImage(t, s, "x/y:z")
	if err := s.RemoveImage(img.ID); err == nil {
		t.Fatal("RemoveImage under a shared lock succeeded")
	}
	if _, err := s.GC(GCOptions{}); err == nil {
		t.Fatal("GC under a shared lock succeeded")
	}
}

func TestGCGracePeriod(t *testing.T) {
	s := openTest(t, Exclusive)
	old := putTestImage(t, s, "x/old:1")
	fresh := putTestImage(t, s, "x/fresh:1")
	inUse := putTestImage(t, s, "x/used:1")
	stray, sd := randomBlob(t, 10)
	if err := s.PutBlobBytes(sd, stray); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "tmp", "blob-leftover"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(48 * time.Hour)
	for _, img := range []*Image{old, inUse} {
		img.ImportTime, img.LastUsed = time.Now().Add(-72*time.Hour), time.Now().Add(-72*time.Hour)
		if err := s.PutImage(img); err != nil {
			t.Fatal(err)
		}
	}
	fresh.LastUsed = now.Add(-time.Hour)
	if err := s.PutImage(fresh); err != nil {
		t.Fatal(err)
	}
	res, err := s.GC(GCOptions{GracePeriod: 24 * time.Hour, Now: now, InUseImages: map[digest.Digest]bool{inUse.ID: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].ID != old.ID {
		t.Fatalf("gc removed %v, want only the old image", res.Images)
	}
	if s.HasBlob(sd) || s.HasBlob(old.ID) {
		t.Fatal("unreferenced blobs kept")
	}
	if !s.HasBlob(fresh.ID) || !s.HasBlob(inUse.Config) {
		t.Fatal("referenced blobs removed")
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(entries) != 0 {
		t.Fatalf("tmp/ leftovers kept: %v", entries)
	}
}

func TestDiscard(t *testing.T) {
	s := openTest(t, Shared)
	kept := putTestImage(t, s, "x/kept:1")
	data, d := randomBlob(t, 10)
	if err := s.PutBlobBytes(d, data); err != nil {
		t.Fatal(err)
	}
	ok, err := s.Discard([]digest.Digest{d, kept.ID}, nil)
	if err != nil || !ok {
		t.Fatalf("Discard = %v, %v", ok, err)
	}
	if s.HasBlob(d) || !s.HasBlob(kept.ID) {
		t.Fatal("Discard removed the wrong blobs")
	}
	// Another holder of the store lock makes Discard leave things alone.
	other, err := Open(s.Dir(), Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := s.PutBlobBytes(d, data); err != nil {
		t.Fatal(err)
	}
	ok, err = s.Discard([]digest.Digest{d}, nil)
	if err != nil || ok || !s.HasBlob(d) {
		t.Fatalf("Discard with the store in use = %v, %v; blob kept=%v", ok, err, s.HasBlob(d))
	}
	// And s still holds its shared lock: an exclusive open must wait.
	done := make(chan struct{})
	go func() {
		x, err := Open(s.Dir(), Exclusive)
		if err == nil {
			x.Close()
		}
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("exclusive open succeeded while the store is held shared")
	case <-time.After(200 * time.Millisecond):
	}
	other.Close()
	s.Close()
	<-done
}

func BenchmarkImages(b *testing.B) {
	s := openTest(b, Shared)
	for range 1000 {
		putTestImage(b, s, "")
	}
	b.ResetTimer()
	for b.Loop() {
		imgs, err := s.Images()
		if err != nil || len(imgs) != 1000 {
			b.Fatal(len(imgs), err)
		}
	}
}

func BenchmarkGC(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s := openTest(b, Exclusive)
		for range 200 {
			putTestImage(b, s, "")
		}
		b.StartTimer()
		res, err := s.GC(GCOptions{Now: time.Now().Add(time.Hour)})
		if err != nil || len(res.Images) != 200 {
			b.Fatal(err)
		}
	}
}

func TestFileImage(t *testing.T) {
	s := openTest(t, Exclusive)
	img := putTestImage(t, s, "x/stage1:1")
	id := FileIdentity{Path: "/usr/lib/rkt/stage1.aci", Dev: 1, Ino: 2, Size: 3, MtimeNs: 4, CtimeNs: 5}
	if _, ok := s.FileImage(id); ok {
		t.Fatal("an unknown file has an image")
	}
	if err := s.SetFileImage(id, img.ID); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.FileImage(id); !ok || got.ID != img.ID {
		t.Fatalf("FileImage = %v, %v", got, ok)
	}
	changed := id
	changed.MtimeNs++
	if _, ok := s.FileImage(changed); ok {
		t.Fatal("a changed file kept its image")
	}
	if err := s.RemoveImage(img.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.FileImage(id); ok {
		t.Fatal("the file record outlived its image")
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), "refs")); len(entries) != 0 {
		t.Fatalf("refs left after image rm: %v", entries)
	}
}
