package testutil

import (
	"archive/tar"
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// ACIManifest is an ImageManifest for an ACI named name, for linux on this
// machine's architecture (amd64 here), with the app JSON given ("" for
// none) and version label.
func ACIManifest(name, version, appJSON string) string {
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"` + name + `","labels":[` +
		`{"name":"version","value":"` + version + `"},{"name":"os","value":"linux"},{"name":"arch","value":"` + AppcArch() + `"}]`
	if appJSON != "" {
		m += `,"app":` + appJSON
	}
	return m + "}"
}

// BusyboxACI is an uncompressed ACI: the manifest and, under rootfs/, the
// entries of BusyboxLayer and extra ones.
func BusyboxACI(t testing.TB, manifest string, extra ...TarEntry) []byte {
	t.Helper()
	return ACI(t, manifest, append(BusyboxEntries(t), extra...)...)
}

// ACI is an uncompressed ACI of the manifest and, under rootfs/, entries.
func ACI(t testing.TB, manifest string, rootfs ...TarEntry) []byte {
	t.Helper()
	entries := []TarEntry{File("manifest", 0o644, manifest), Dir("rootfs/", 0o755)}
	for _, e := range rootfs {
		e.Name = "rootfs/" + strings.TrimPrefix(e.Name, "/")
		if e.Type == tar.TypeLink { // a hard link names a path in the archive
			e.Linkname = "rootfs/" + strings.TrimPrefix(e.Linkname, "/")
		}
		entries = append(entries, e)
	}
	return TarBytes(t, entries)
}

// AppcArch is the appc name of this machine's architecture, as
// image.AppcArch gives it (which this package cannot call: image's tests
// import it).
func AppcArch() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64"
	}
	return runtime.GOARCH
}

// ACIBrokenAfterManifest is an ACI whose manifest entry is whole and is
// followed by garbage bytes where the next tar header should be: what a
// reader that stops at the manifest accepts and a whole read refuses.
func ACIBrokenAfterManifest(t testing.TB, manifest string, garbage int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(manifest)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	buf.Write(bytes.Repeat([]byte{0xff}, garbage))
	return buf.Bytes()
}
