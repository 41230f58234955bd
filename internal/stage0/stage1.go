package stage0

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// DefaultFlavor is the stage1 flavor used when none is chosen.
const DefaultFlavor = "ns"

// Stage1Selection is how the user chose the stage1 image (--stage1-*).
type Stage1Selection struct {
	// Path is a stage1 ACI file (--stage1-path).
	Path string
	// Name is a stored image name (--stage1-name), Hash a stored image ID
	// (--stage1-hash).
	Name string
	Hash string
	// FromDir is a file name looked up in the stage1 images directory
	// (--stage1-from-dir).
	FromDir string
	// URL is --stage1-url (docker:// or file://).
	URL string
}

// Stage1 is a loaded stage1 image.
type Stage1 struct {
	Image *store.Image
	// Manifest is the image's manifest as stored (the pod gets a copy).
	Manifest []byte
	// Rootfs is the rendered tree in the store (read-only to pods).
	Rootfs string
	// Entrypoints by annotation name, relative to Rootfs.
	Entrypoints map[string]string
	Version     int
}

// Stage1Dirs are where default stage1 images are looked for.
type Stage1Dirs struct {
	// BinaryDir is the directory of the running rkt binary.
	BinaryDir string
	// ImagesDir is the stage1 images directory (paths.d stage1-images).
	ImagesDir string
}

// LoadStage1 finds, imports and renders the stage1 image the selection
// names (by default stage1-ns.aci beside the rkt binary, then in the
// stage1 images directory). Images next to the binary or in the stage1
// images directory are trusted as rkt 1.x trusted them; a --stage1-path
// or --stage1-url image needs a signature, which needs --insecure-options=
// image until ACI signatures are supported.
func LoadStage1(ctx context.Context, images Images, sel Stage1Selection, dirs Stage1Dirs) (*Stage1, error) {
	var img *store.Image
	var err error
	switch {
	case sel.Path != "" || sel.URL != "":
		file := sel.Path
		if sel.URL != "" {
			if !strings.HasPrefix(sel.URL, "file://") {
				return nil, errdefs.InvalidArgument(fmt.Errorf("--stage1-url %q: only file:// URLs are supported yet", sel.URL))
			}
			file = strings.TrimPrefix(sel.URL, "file://")
		}
		if !filepath.IsAbs(file) {
			return nil, errdefs.InvalidArgument(fmt.Errorf("stage1 image %q: the path must be absolute", file))
		}
		if !images.InsecureImage() {
			return nil, errdefs.WithKind(errdefs.KindPermission, fmt.Errorf("stage1 image %s: signature verification of ACI images is not supported yet; use it unverified with --insecure-options=image", file))
		}
		img, err = images.ImportStage1(ctx, file)
	case sel.Name != "" || sel.Hash != "":
		in := sel.Hash
		if in == "" {
			in = sel.Name
		}
		img, err = images.LookupImage(in)
	default:
		name := sel.FromDir
		if name == "" {
			name = "stage1-" + DefaultFlavor + ".aci"
		}
		if strings.Contains(name, "/") {
			return nil, errdefs.InvalidArgument(fmt.Errorf("--stage1-from-dir %q: give a file name, not a path", name))
		}
		var file string
		for _, d := range []string{dirs.BinaryDir, dirs.ImagesDir} {
			if d == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				file = filepath.Join(d, name)
				break
			}
		}
		if file == "" {
			return nil, errdefs.NotFound(fmt.Errorf("stage1 image %s not found beside rkt (%s) or in the stage1 images directory (%s)", name, dirs.BinaryDir, dirs.ImagesDir))
		}
		img, err = images.ImportStage1(ctx, file)
	}
	if err != nil {
		return nil, fmt.Errorf("stage1: %w", err)
	}
	return stage1FromImage(images.ImageStore(), img)
}

func stage1FromImage(s *store.Store, img *store.Image) (*Stage1, error) {
	m, err := aci.ReadStoredManifest(s, img)
	if err != nil {
		return nil, fmt.Errorf("stage1: %w", err)
	}
	st := &Stage1{Image: img, Manifest: m.Raw, Rootfs: filepath.Join(m.Tree, "rootfs"), Entrypoints: map[string]string{}, Version: 1}
	for _, a := range []string{abi.AnnotationRun, abi.AnnotationEnter, abi.AnnotationGC, abi.AnnotationStop, abi.AnnotationPodInit} {
		if v, ok := m.Annotations[a]; ok {
			if !filepath.IsAbs(v) || strings.Contains(v, "..") {
				return nil, fmt.Errorf("stage1 image %s: entrypoint %s=%q is not a clean absolute path", store.FormatID(img.ID), a, v)
			}
			st.Entrypoints[a] = v
		}
	}
	if _, ok := st.Entrypoints[abi.AnnotationRun]; !ok {
		return nil, fmt.Errorf("stage1 image %s has no %s entrypoint", store.FormatID(img.ID), abi.AnnotationRun)
	}
	if v, ok := m.Annotations[abi.AnnotationInterfaceVersion]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("stage1 image %s: bad interface version %q", store.FormatID(img.ID), v)
		}
		st.Version = n
	}
	if st.Version > abi.InterfaceVersion {
		return nil, fmt.Errorf("stage1 image %s speaks interface version %d; this rkt speaks up to %d", store.FormatID(img.ID), st.Version, abi.InterfaceVersion)
	}
	return st, nil
}

// errNoEntrypoint is returned when the stage1 lacks an entrypoint.
var errNoEntrypoint = errors.New("the stage1 image has no such entrypoint")

// Stage1Of loads the stage1 image a prepared pod was prepared with.
func Stage1Of(s *store.Store, podDir string) (*Stage1, error) {
	raw, err := os.ReadFile(filepath.Join(podDir, abi.Stage1Image))
	if err != nil {
		return nil, fmt.Errorf("pod stage1 image: %w", err)
	}
	img, err := s.LookupID(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("pod stage1 image: %w", err)
	}
	return stage1FromImage(s, img)
}
