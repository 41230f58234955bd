package image

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
)

// FuzzReadACI feeds hostile ACI files (tar, gzip or zstd) to the whole
// read, which hashes them for their ID, and to the peek that finds the
// manifest before a signature check: neither may panic, and the whole
// read's ID and size are those of the bytes read.
func FuzzReadACI(f *testing.F) {
	good := aciManifest("linux", AppcArch(runtime.GOARCH))
	f.Add(aciBytes(f, good, false))
	f.Add(aciBytes(f, good, true))
	f.Add(aciBytes(f, "", false))
	f.Add(aciBytes(f, `{"acKind":"ImageManifest"`, false))
	f.Add(aciBytes(f, aciManifest("linux", "s390x"), true))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00})
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ReadACI(bytes.NewReader(data))
		if err == nil {
			if want := digest.SHA512.FromBytes(data); a.Digest != want || a.Size != int64(len(data)) {
				t.Fatalf("ID %s size %d, want %s %d", a.Digest, a.Size, want, len(data))
			}
			if a.Manifest == nil || a.Manifest.Name.String() == "" {
				t.Fatal("an ACI read without its manifest's name")
			}
		}
		p, err := scanACI(bytes.NewReader(data), false)
		if err == nil && (p.Manifest == nil || p.Manifest.Name.String() == "") {
			t.Fatal("a peeked manifest without a name")
		}
	})
}
