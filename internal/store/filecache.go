package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// FileIdentity identifies a version of a local file without reading it:
// any write, replacement or rename over it changes one of these.
type FileIdentity struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	CtimeNs int64  `json:"ctimeNs"`
}

type fileIDRecord struct {
	FileIdentity
	ID digest.Digest `json:"id"`
}

// fileIDRel is where a file record lives: beside the name refs, which
// image rm and image gc drop with the image they point at ("id").
func fileIDRel(path string) []string {
	sum := sha256.Sum256([]byte(path))
	return []string{"refs", "file-" + hex.EncodeToString(sum[:]) + ".json"}
}

// FileImage returns the image a local file was last imported as, if the
// file is still exactly that version and the image is stored. It lets rkt
// skip re-hashing a stage1 image file on every run.
func (s *Store) FileImage(id FileIdentity) (*Image, bool) {
	data, err := readSmall(s.path(fileIDRel(id.Path)...), maxRecordSize)
	if err != nil {
		return nil, false
	}
	var rec fileIDRecord
	if json.Unmarshal(data, &rec) != nil || rec.FileIdentity != id {
		return nil, false
	}
	img, err := s.Image(rec.ID)
	if err != nil {
		return nil, false
	}
	return img, true
}

// SetFileImage records that the file version id was imported as image.
func (s *Store) SetFileImage(id FileIdentity, image digest.Digest) error {
	data, err := json.Marshal(fileIDRecord{FileIdentity: id, ID: image})
	if err != nil {
		return err
	}
	return writeFileAtomicSync(s.path(fileIDRel(id.Path)...), data, 0o640, false)
}

// RemoteRecord is what rkt remembers of an image downloaded from a URL,
// for HTTP caching: the validator and freshness the server gave.
type RemoteRecord struct {
	URL        string        `json:"url"`
	ETag       string        `json:"etag,omitempty"`
	MaxAge     time.Duration `json:"maxAge,omitempty"`
	Downloaded time.Time     `json:"downloaded"`
	ID         digest.Digest `json:"id"`
}

func remoteRel(url string) []string {
	sum := sha256.Sum256([]byte(url))
	return []string{"refs", "url-" + hex.EncodeToString(sum[:]) + ".json"}
}

// RemoteImage returns the record of a URL and its image, if stored.
func (s *Store) RemoteImage(url string) (*RemoteRecord, *Image, bool) {
	data, err := readSmall(s.path(remoteRel(url)...), maxRecordSize)
	if err != nil {
		return nil, nil, false
	}
	var rec RemoteRecord
	if json.Unmarshal(data, &rec) != nil || rec.URL != url {
		return nil, nil, false
	}
	img, err := s.Image(rec.ID)
	if err != nil {
		return nil, nil, false
	}
	return &rec, img, true
}

// SetRemote records a URL's download.
func (s *Store) SetRemote(rec RemoteRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return writeFileAtomicSync(s.path(remoteRel(rec.URL)...), data, 0o640, false)
}

// IdentifyFile stats file for the store's file-to-image records.
func IdentifyFile(file string) (FileIdentity, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return FileIdentity{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return FileIdentity{}, err
	}
	return FileIdentity{
		Path: abs, Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(),
	}, nil
}
