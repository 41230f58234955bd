package aci

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/store"
)

// MediaType marks stored images that are appc ACIs: one blob that is both
// the image and its only layer.
const MediaType = "application/vnd.appc.aci"

// MaxManifestSize bounds an ACI's manifest.
const MaxManifestSize = 1 << 20

// MaxDependencyDepth bounds an ACI's dependency tree.
const MaxDependencyDepth = 16

// ReadManifestFile reads and validates a rendered ACI's manifest file.
func ReadManifestFile(file string) (*schema.ImageManifest, error) {
	raw, err := readBounded(file)
	if err != nil {
		return nil, err
	}
	var m schema.ImageManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &m, nil
}

// readBounded reads a manifest file of at most MaxManifestSize bytes.
func readBounded(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxManifestSize {
		return nil, errdefs.TooLarge(fmt.Errorf("%s is larger than %d bytes", file, MaxManifestSize))
	}
	return raw, nil
}

// Annotation returns an annotation of the manifest.
func Annotation(m *schema.ImageManifest, key string) (string, bool) {
	return m.Annotations.Get(string(types.ACIdentifier(key)))
}

// Manifest reads a stored ACI's manifest from its rendered tree, and
// returns the tree (the ACI's manifest and rootfs/).
func Manifest(s *store.Store, img *store.Image) (*schema.ImageManifest, string, error) {
	tree, err := storedTree(s, img)
	if err != nil {
		return nil, "", err
	}
	m, err := ReadManifestFile(filepath.Join(tree, "manifest"))
	if err != nil {
		return nil, "", fmt.Errorf("image %s: %w", store.FormatID(img.ID), err)
	}
	return m, tree, nil
}

// storedTree returns a stored ACI's rendered tree (its manifest and
// rootfs/): the tree of its one layer.
func storedTree(s *store.Store, img *store.Image) (string, error) {
	if img.MediaType != MediaType || len(img.Layers) != 1 {
		return "", errdefs.InvalidArgument(fmt.Errorf("image %s is not an ACI", store.FormatID(img.ID)))
	}
	dir, err := s.LayerDir(img.Layers[0].DiffID)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "rootfs"), nil
}

// StoredManifest is a stored ACI's manifest as a pod's stage1 needs it:
// the file as stored, and its annotations.
type StoredManifest struct {
	// Raw is the manifest file, byte for byte.
	Raw []byte
	// Annotations are the manifest's annotations by name.
	Annotations map[string]string
	// Tree is the rendered tree (the manifest and rootfs/).
	Tree string
}

// ReadStoredManifest reads a stored ACI's manifest for its annotations
// alone. The store checked the whole manifest when it took the image in:
// this skips decoding and validating the rest again, which a pod start
// would pay for its stage1.
func ReadStoredManifest(s *store.Store, img *store.Image) (*StoredManifest, error) {
	tree, err := storedTree(s, img)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(tree, "manifest")
	raw, err := readBounded(file)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", store.FormatID(img.ID), err)
	}
	var m struct {
		ACKind      string `json:"acKind"`
		Annotations []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("image %s: %s: %w", store.FormatID(img.ID), file, err)
	}
	if m.ACKind != string(schema.ImageManifestKind) {
		return nil, fmt.Errorf("image %s: %s: acKind %q, want %q", store.FormatID(img.ID), file, m.ACKind, schema.ImageManifestKind)
	}
	sm := &StoredManifest{Raw: raw, Annotations: make(map[string]string, len(m.Annotations)), Tree: tree}
	for _, a := range m.Annotations {
		if _, dup := sm.Annotations[a.Name]; dup {
			return nil, fmt.Errorf("image %s: %s: annotation %q is given twice", store.FormatID(img.ID), file, a.Name)
		}
		sm.Annotations[a.Name] = a.Value
	}
	return sm, nil
}

// DependencyInput is how a dependency is asked for: its name and labels in
// the form discovery reads ("name,version=1.0,os=linux").
func DependencyInput(d types.Dependency) string {
	in := d.ImageName.String()
	for _, l := range d.Labels {
		in += "," + l.Name.String() + "=" + l.Value
	}
	return in
}

// Node is one image of an ACI's dependency tree.
type Node struct {
	Image    *store.Image
	Manifest *schema.ImageManifest
	// Dir is the rendered ACI: its manifest and rootfs/.
	Dir string
	// Parent is the index of the image that depends on it; -1 for the
	// ACI whose tree it is.
	Parent int
}

// Tree lists an ACI and its dependencies depth first, the image first,
// each dependency the image resolve finds for it; nil for an image that is
// not an ACI.
func Tree(s *store.Store, img *store.Image, resolve func(types.Dependency) (*store.Image, error)) ([]Node, error) {
	if img.MediaType != MediaType {
		return nil, nil
	}
	var out []Node
	if err := addNode(s, img, nil, -1, resolve, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// addNode appends img, the dependency of (*out)[parent] (chain are the
// images above it), and its own dependencies to *out.
func addNode(s *store.Store, img *store.Image, chain []digest.Digest, parent int, resolve func(types.Dependency) (*store.Image, error), out *[]Node) error {
	if len(chain) > MaxDependencyDepth {
		return fmt.Errorf("image %s: dependencies deeper than %d", store.FormatID(img.ID), MaxDependencyDepth)
	}
	if slices.Contains(chain, img.ID) {
		return fmt.Errorf("image %s: dependency cycle", store.FormatID(img.ID))
	}
	m, dir, err := Manifest(s, img)
	if err != nil {
		return err
	}
	self := len(*out)
	*out = append(*out, Node{Image: img, Manifest: m, Dir: dir, Parent: parent})
	next := append(slices.Clip(chain), img.ID)
	for _, d := range m.Dependencies {
		dep, err := resolve(d)
		if err != nil {
			return fmt.Errorf("image %s: dependency %s: %w", m.Name, DependencyInput(d), err)
		}
		if err := addNode(s, dep, next, self, resolve, out); err != nil {
			return err
		}
	}
	return nil
}
