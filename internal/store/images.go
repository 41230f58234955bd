package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/rkt/rkt/internal/errdefs"
)

// maxRecordSize bounds an image record read back from disk.
const maxRecordSize = 1 << 20

// LayerRecord is one layer of a stored image.
type LayerRecord struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType"`
	DiffID    digest.Digest `json:"diffID"`
}

// Image is the record of a stored image. Its ID is its manifest digest.
type Image struct {
	ID         digest.Digest `json:"id"`
	Name       string        `json:"name"`
	MediaType  string        `json:"mediaType"`
	Config     digest.Digest `json:"config"`
	ConfigSize int64         `json:"configSize"`
	Layers     []LayerRecord `json:"layers"`
	// ManifestSize is the size of the manifest blob.
	ManifestSize int64 `json:"manifestSize"`
	// Index is the digest of the multi-arch index the manifest came from.
	Index digest.Digest `json:"index,omitempty"`
	// Source is the input the image was fetched from (docker://…, oci:…).
	Source     string    `json:"source"`
	ImportTime time.Time `json:"importTime"`
	LastUsed   time.Time `json:"lastUsed"`
	// Latest is true when the image was fetched without a tag or with "latest".
	Latest bool `json:"latest"`
}

// BlobSize is the total size of the image's blobs.
func (img *Image) BlobSize() int64 {
	n := img.ManifestSize + img.ConfigSize
	for _, l := range img.Layers {
		n += l.Size
	}
	return n
}

// Blobs lists the digests of the image's blobs. An ACI is one blob: its
// ID is its only layer's digest and it has no config.
func (img *Image) Blobs() []digest.Digest {
	out := []digest.Digest{img.ID}
	if img.Config != "" {
		out = append(out, img.Config)
	}
	for _, l := range img.Layers {
		if l.Digest != img.ID {
			out = append(out, l.Digest)
		}
	}
	return out
}

// FormatID is an image ID as rkt prints it: "sha256-<hex>".
func FormatID(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// ShortID is FormatID cut to n hex digits.
func ShortID(d digest.Digest, n int) string {
	enc := d.Encoded()
	if len(enc) > n {
		enc = enc[:n]
	}
	return d.Algorithm().String() + "-" + enc
}

func recordRel(id digest.Digest) []string {
	return []string{"images", FormatID(id) + ".json"}
}

type ref struct {
	Name string        `json:"name"`
	ID   digest.Digest `json:"id"`
}

func refRel(name string) []string {
	sum := sha256.Sum256([]byte(name))
	return []string{"refs", hex.EncodeToString(sum[:]) + ".json"}
}

// PutImage records img and points its name at it. The image's blobs and
// rendered layers must already be in the store: the record is the commit
// point of a fetch. A record that exists keeps its import time.
func (s *Store) PutImage(img *Image) error {
	if err := checkDigest(img.ID); err != nil {
		return err
	}
	for _, d := range img.Blobs() {
		if !s.HasBlob(d) {
			return fmt.Errorf("put image %s: blob %s is missing", img.ID, d)
		}
	}
	if old, err := s.Image(img.ID); err == nil {
		img.ImportTime = old.ImportTime
	}
	data, err := json.Marshal(img)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path(recordRel(img.ID)...), data, 0o640); err != nil {
		return fmt.Errorf("put image %s: %w", img.ID, err)
	}
	if img.Name == "" {
		return nil
	}
	data, err = json.Marshal(ref{Name: img.Name, ID: img.ID})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path(refRel(img.Name)...), data, 0o640); err != nil {
		return fmt.Errorf("put image %s: name %q: %w", img.ID, img.Name, err)
	}
	return nil
}

// Image reads the record of image id.
func (s *Store) Image(id digest.Digest) (*Image, error) {
	if err := checkDigest(id); err != nil {
		return nil, err
	}
	return s.readRecord(s.path(recordRel(id)...), id)
}

func (s *Store) readRecord(path string, id digest.Digest) (*Image, error) {
	data, err := readSmall(path, maxRecordSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("image %s is not in the store", FormatID(id)))
	}
	if err != nil {
		return nil, fmt.Errorf("read image record %s: %w", path, err)
	}
	img := &Image{}
	if err := json.Unmarshal(data, img); err != nil {
		return nil, fmt.Errorf("read image record %s: %w", path, err)
	}
	if id != "" && img.ID != id {
		return nil, fmt.Errorf("image record %s holds id %s", path, img.ID)
	}
	return img, nil
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	buf := make([]byte, st.Size())
	_, err = f.ReadAt(buf, 0)
	return buf, err
}

// Images lists every stored image, sorted by import time.
func (s *Store) Images() ([]*Image, error) {
	entries, err := os.ReadDir(s.path("images"))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]*Image, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || strings.HasPrefix(n, ".") {
			continue
		}
		img, err := s.readRecord(s.path("images", n), "")
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ImportTime.Equal(out[j].ImportTime) {
			return out[i].ImportTime.Before(out[j].ImportTime)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// LookupName returns the image that name currently points at.
func (s *Store) LookupName(name string) (*Image, error) {
	data, err := readSmall(s.path(refRel(name)...), maxRecordSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("no image named %q in the store", name))
	}
	if err != nil {
		return nil, err
	}
	var r ref
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read ref %q: %w", name, err)
	}
	if r.Name != name {
		return nil, fmt.Errorf("ref file for %q names %q", name, r.Name)
	}
	img, err := s.Image(r.ID)
	if err != nil {
		return nil, fmt.Errorf("image named %q: %w", name, err)
	}
	return img, nil
}

// LookupDigest returns the image whose manifest digest is d, or the one
// picked from the multi-arch index whose digest is d.
func (s *Store) LookupDigest(d digest.Digest) (*Image, error) {
	img, err := s.Image(d)
	if !errdefs.Is(err, errdefs.KindNotFound) {
		return img, err
	}
	imgs, lerr := s.Images()
	if lerr != nil {
		return nil, lerr
	}
	for _, img := range imgs {
		if img.Index == d {
			return img, nil
		}
	}
	return nil, err
}

// LookupID returns the image whose ID starts with prefix ("sha256:ab…" or
// "sha256-ab…"), with rkt's errors for no match and for several.
func (s *Store) LookupID(prefix string) (*Image, error) {
	p := strings.Replace(prefix, "-", ":", 1)
	if full, err := digest.Parse(p); err == nil {
		return s.Image(full)
	}
	alg, hexp, ok := strings.Cut(p, ":")
	if !ok || len(hexp) < 2 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image ID %q is too short", prefix))
	}
	// Names only: neither sorted (os.ReadDir) nor stat'ed.
	d, err := os.Open(s.path("images"))
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	want := alg + "-" + hexp
	var found []string
	for _, n := range names {
		if strings.HasPrefix(n, want) && strings.HasSuffix(n, ".json") {
			found = append(found, strings.TrimSuffix(n, ".json"))
		}
	}
	switch len(found) {
	case 0:
		return nil, errdefs.NotFound(fmt.Errorf("no image with ID %q in the store", prefix))
	case 1:
		return s.Image(digest.Digest(strings.Replace(found[0], "-", ":", 1)))
	}
	return nil, errdefs.InvalidArgument(fmt.Errorf("image ID %q is ambiguous: %d images match", prefix, len(found)))
}

// Touch sets the image's last-used time to now.
func (s *Store) Touch(id digest.Digest) error {
	img, err := s.Image(id)
	if err != nil {
		return err
	}
	img.LastUsed = time.Now()
	data, err := json.Marshal(img)
	if err != nil {
		return err
	}
	// Every rkt run touches its images: a last-used time is not worth an
	// fsync on the start path.
	return writeFileAtomicSync(s.path(recordRel(id)...), data, 0o640, false)
}

// RemoveImage removes image id's record and the names pointing at it, then
// the blobs no other image uses. Rendered layers stay until image gc, so
// running pods keep working. It needs the exclusive lock.
func (s *Store) RemoveImage(id digest.Digest) error {
	if s.mode != Exclusive {
		return errors.New("remove image: the store is not locked exclusively")
	}
	img, err := s.Image(id)
	if err != nil {
		return err
	}
	if err := s.removeRefsTo(map[digest.Digest]bool{id: true}); err != nil {
		return err
	}
	if err := os.Remove(s.path(recordRel(id)...)); err != nil {
		return fmt.Errorf("remove image %s: %w", FormatID(id), err)
	}
	keep, err := s.referencedBlobs()
	if err != nil {
		return err
	}
	for _, d := range img.Blobs() {
		if !keep[d] {
			p, _ := s.BlobPath(d)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove image %s: blob %s: %w", FormatID(id), d, err)
			}
		}
	}
	return nil
}

// removeRefsTo removes the names that point at any of ids, or at images
// that are gone when ids is nil.
func (s *Store) removeRefsTo(ids map[digest.Digest]bool) error {
	entries, err := os.ReadDir(s.path("refs"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := s.path("refs", e.Name())
		data, err := readSmall(p, maxRecordSize)
		if err != nil {
			continue
		}
		var r ref
		if json.Unmarshal(data, &r) != nil {
			os.Remove(p)
			continue
		}
		drop := ids[r.ID]
		if ids == nil {
			_, err := os.Stat(s.path(recordRel(r.ID)...))
			drop = err != nil
		}
		if drop {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// referencedBlobs is the set of blobs some image record uses.
func (s *Store) referencedBlobs() (map[digest.Digest]bool, error) {
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	keep := map[digest.Digest]bool{}
	for _, img := range imgs {
		for _, d := range img.Blobs() {
			keep[d] = true
		}
	}
	return keep, nil
}

// ParseImageID matches image IDs as rkt prints them (sha256-hex) and
// digests (sha256:hex), full or a prefix of at least 2 hex digits: what
// `^(sha256|sha512)[-:]([a-f0-9]{2,128})$` matches, without compiling it
// on the start path of rkt run ID. It is how image inputs name
// stored images.
func ParseImageID(s string) (algo, hex string, ok bool) {
	for _, a := range []string{"sha256", "sha512"} {
		rest, found := strings.CutPrefix(s, a)
		if !found || rest == "" || rest[0] != '-' && rest[0] != ':' {
			continue
		}
		hex = rest[1:]
		if len(hex) < 2 || len(hex) > 128 {
			return "", "", false
		}
		for i := 0; i < len(hex); i++ {
			if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return "", "", false
			}
		}
		return a, hex, true
	}
	return "", "", false
}
