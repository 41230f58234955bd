package testutil

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefNameAnnotation is the OCI layout annotation naming an image.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// DefaultPathEnv is the PATH that BusyboxImage sets when the config has no
// environment.
const DefaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image returns an OCI image (OCI manifest and config media types) with
// layers, whose config has os linux, architecture runtime.GOARCH, the given
// container config and matching rootfs.diff_ids.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	return buildImage(t, cfg, types.OCIManifestSchema1, types.OCIConfigJSON, layers, nil)
}

// DockerImage is Image with Docker schema 2 media types; gzip and
// uncompressed OCI layers are given their Docker media types (zstd layers
// keep theirs: Docker has none).
func DockerImage(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	return buildImage(t, cfg, types.DockerManifestSchema2, types.DockerConfigJSON, layers, func(mt types.MediaType) types.MediaType {
		switch mt {
		case types.OCILayer:
			return types.DockerLayer
		case types.OCIUncompressedLayer:
			return types.DockerUncompressedLayer
		}
		return mt
	})
}

func buildImage(t testing.TB, cfg v1.Config, manifestMT, configMT types.MediaType, layers []v1.Layer, mapMT func(types.MediaType) types.MediaType) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, manifestMT)
	img = mutate.ConfigMediaType(img, configMT)
	adds := make([]mutate.Addendum, 0, len(layers))
	for i, l := range layers {
		add := mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: DefaultModTime}, CreatedBy: fmt.Sprintf("testutil layer %d", i)}}
		if mapMT != nil {
			mt, err := l.MediaType()
			if err != nil {
				t.Fatalf("testutil: layer %d media type: %v", i, err)
			}
			add.MediaType = mapMT(mt)
		}
		adds = append(adds, add)
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		t.Fatalf("testutil: append layers: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("testutil: config file: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Config = cfg
	cf.Created = v1.Time{Time: DefaultModTime}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("testutil: set config file: %v", err)
	}
	// Compute everything now so that errors surface here, not in a push.
	if _, err := img.Digest(); err != nil {
		t.Fatalf("testutil: image digest: %v", err)
	}
	return img
}

// parsePlatform parses "os/arch[/variant]".
func parsePlatform(t testing.TB, s string) v1.Platform {
	t.Helper()
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		t.Fatalf("testutil: platform %q: want os/arch[/variant]", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p
}

// WithPlatform returns img with its config's os, architecture and variant set
// to platform ("linux/arm64/v8"); img itself when they already match.
func WithPlatform(t testing.TB, img v1.Image, platform string) v1.Image {
	t.Helper()
	p := parsePlatform(t, platform)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("testutil: config file: %v", err)
	}
	if cf.OS == p.OS && cf.Architecture == p.Architecture && cf.Variant == p.Variant {
		return img
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("testutil: set platform: %v", err)
	}
	return img
}

// MultiArchIndex returns an OCI image index with one manifest per platform
// ("linux/amd64", "linux/arm64/v8" -> image), in sorted platform order. Each
// image's config is given the os/architecture/variant of its platform (see
// WithPlatform), so the index's children may differ from the images given;
// use PlatformImage to get them back.
func MultiArchIndex(t testing.TB, images map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	return buildIndex(t, types.OCIImageIndex, images)
}

// DockerManifestList is MultiArchIndex with the Docker manifest list media
// type. Give it DockerImage images to stay all-Docker.
func DockerManifestList(t testing.TB, images map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	return buildIndex(t, types.DockerManifestList, images)
}

func buildIndex(t testing.TB, mt types.MediaType, images map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	platforms := make([]string, 0, len(images))
	for p := range images {
		platforms = append(platforms, p)
	}
	slices.Sort(platforms)
	idx := mutate.IndexMediaType(empty.Index, mt)
	adds := make([]mutate.IndexAddendum, 0, len(platforms))
	for _, ps := range platforms {
		p := parsePlatform(t, ps)
		adds = append(adds, mutate.IndexAddendum{
			Add:        WithPlatform(t, images[ps], ps),
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	idx = mutate.AppendManifests(idx, adds...)
	if _, err := idx.Digest(); err != nil {
		t.Fatalf("testutil: index digest: %v", err)
	}
	return idx
}

// PlatformImage returns the image of idx for platform ("linux/amd64").
func PlatformImage(t testing.TB, idx v1.ImageIndex, platform string) v1.Image {
	t.Helper()
	want := parsePlatform(t, platform)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("testutil: index manifest: %v", err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture && d.Platform.Variant == want.Variant {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatalf("testutil: index image %s: %v", d.Digest, err)
			}
			return img
		}
	}
	t.Fatalf("testutil: index has no image for %s", platform)
	return nil
}

// Digest returns the digest of an image or index, failing the test on error.
func Digest(t testing.TB, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatalf("testutil: digest: %v", err)
	}
	return h
}

// openLayout opens the OCI layout at dir, creating an empty one if dir holds
// none.
func openLayout(t testing.TB, dir string) layout.Path {
	t.Helper()
	if p, err := layout.FromPath(dir); err == nil {
		return p
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("testutil: create OCI layout %s: %v", dir, err)
	}
	return p
}

func refNameOptions(refName string) []layout.Option {
	if refName == "" {
		return nil
	}
	return []layout.Option{layout.WithAnnotations(map[string]string{RefNameAnnotation: refName})}
}

// WriteOCILayout adds img to the OCI image layout at dir (created if needed),
// annotated with org.opencontainers.image.ref.name=refName unless refName is
// empty.
func WriteOCILayout(t testing.TB, dir string, img v1.Image, refName string) {
	t.Helper()
	if err := openLayout(t, dir).AppendImage(img, refNameOptions(refName)...); err != nil {
		t.Fatalf("testutil: write image to OCI layout %s: %v", dir, err)
	}
}

// WriteOCILayoutIndex adds idx (and its images) to the OCI image layout at
// dir, like WriteOCILayout.
func WriteOCILayoutIndex(t testing.TB, dir string, idx v1.ImageIndex, refName string) {
	t.Helper()
	if err := openLayout(t, dir).AppendIndex(idx, refNameOptions(refName)...); err != nil {
		t.Fatalf("testutil: write index to OCI layout %s: %v", dir, err)
	}
}

// WriteOCIArchive writes an oci-archive: an uncompressed tar of an OCI
// layout holding img (see WriteOCILayout).
func WriteOCIArchive(t testing.TB, file string, img v1.Image, refName string) {
	t.Helper()
	dir := t.TempDir()
	WriteOCILayout(t, dir, img, refName)
	if err := TarDir(dir, file); err != nil {
		t.Fatalf("testutil: write OCI archive: %v", err)
	}
}

// WriteDockerArchive writes img to file in the `docker save` format, tagged
// tag ("example.com/app:v1", "app:latest").
func WriteDockerArchive(t testing.TB, file, tag string, img v1.Image) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatalf("testutil: docker archive tag %q: %v", tag, err)
	}
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		t.Fatalf("testutil: write docker archive %s: %v", file, err)
	}
}

// TarDir writes the tree at dir into an uncompressed tar file, in lexical
// order, with paths relative to dir, owner 0:0 and DefaultModTime. It reads
// the tree through an os.Root, so a symlink in it is archived, never
// followed.
func TarDir(dir, file string) (err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	defer root.Close()
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", file, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = root.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = p
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = DefaultModTime, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		src, err := root.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	return nil
}

// busyboxApplets are the applets that BusyboxLayer links into /bin.
var busyboxApplets = []string{
	"[", "ash", "awk", "basename", "cat", "chmod", "chown", "cmp", "cp", "cut",
	"date", "dd", "df", "diff", "dirname", "du", "echo", "env", "expr", "false",
	"find", "grep", "groups", "head", "hostname", "id", "ip", "kill", "ln", "ls",
	"md5sum", "mkdir", "mkfifo", "mknod", "mount", "mv", "nc", "nproc", "nsenter",
	"printf", "ps", "pwd", "readlink", "realpath", "rm", "rmdir", "sed", "seq",
	"setpriv", "sh", "sha256sum", "sleep", "sort", "stat", "sync", "tail", "tee",
	"test", "timeout", "touch", "tr", "true", "truncate", "umount", "uname",
	"uniq", "unshare", "usleep", "wc", "which", "whoami", "xargs", "yes",
}

var busyboxCache struct {
	once    sync.Once
	entries []TarEntry
	gz      *RawLayer
	err     error
}

// BusyboxEntries returns the tar entries of BusyboxLayer, so that tests can
// add to them. It skips the test when /bin/busybox is missing.
func BusyboxEntries(t testing.TB) []TarEntry {
	t.Helper()
	busyboxCache.once.Do(func() {
		bin, err := os.ReadFile(BusyboxPath)
		if err != nil {
			busyboxCache.err = err
			return
		}
		e := []TarEntry{
			Dir("bin/", 0o755),
			File("bin/busybox", 0o755, string(bin)),
		}
		for _, a := range busyboxApplets {
			e = append(e, Symlink("bin/"+a, "busybox"))
		}
		e = append(e,
			Dir("dev/", 0o755),
			Dir("etc/", 0o755),
			File("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
			File("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"),
			Dir("proc/", 0o555),
			Dir("root/", 0o700),
			Dir("sbin/", 0o755),
			Dir("sys/", 0o555),
			Dir("tmp/", 0o1777),
			Dir("usr/", 0o755),
			Dir("usr/bin/", 0o755),
			Symlink("usr/bin/env", "../../bin/busybox"),
			Dir("usr/sbin/", 0o755),
		)
		busyboxCache.entries = e
		data, err := tarBytes(e)
		if err != nil {
			busyboxCache.err = err
			return
		}
		gz, err := gzipBytes(data)
		if err != nil {
			busyboxCache.err = err
			return
		}
		busyboxCache.gz = NewRawLayer(gz, data, types.OCILayer)
	})
	if err := busyboxCache.err; err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			t.Skipf("testutil: needs %s: apt-get install busybox-static", BusyboxPath)
		}
		t.Fatalf("testutil: busybox layer: %v", err)
	}
	return slices.Clone(busyboxCache.entries)
}

// BusyboxLayer returns a gzip layer with a static busybox at /bin/busybox,
// applet symlinks in /bin (sh, true, false, echo, cat, ls, sleep, env, id,
// ...), /etc/passwd and /etc/group with root and nobody, and empty /tmp,
// /proc, /sys, /dev, /usr/bin, /usr/sbin, /sbin and /root. It skips the test
// when /bin/busybox is missing (apt-get install busybox-static).
func BusyboxLayer(t testing.TB) v1.Layer {
	t.Helper()
	BusyboxEntries(t)
	return busyboxCache.gz
}

// BusyboxImage returns Image(t, cfg, BusyboxLayer(t)), with DefaultPathEnv
// as the environment when cfg has none.
func BusyboxImage(t testing.TB, cfg v1.Config) v1.Image {
	t.Helper()
	if cfg.Env == nil {
		cfg.Env = []string{DefaultPathEnv}
	}
	return Image(t, cfg, BusyboxLayer(t))
}
