package trust

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/rkt/rkt/internal/errdefs"
)

// The keystore's directories, under each layer's trustedkeys directory.
const (
	Dir       = "trustedkeys"
	RootDir   = "root.d"
	PrefixDir = "prefix.d"
)

// MaxKeySize bounds a key file, and MaxSignatureSize a signature.
const (
	MaxKeySize       = 1 << 20
	MaxSignatureSize = 1 << 20
)

// Keystore is the two layers of trusted keys.
type Keystore struct {
	// System and Local are the trustedkeys directories of the system
	// and the local configuration ("" for none).
	System, Local string
}

// prefixRE is what an image name prefix may be: appc identifier
// characters, path components without empty, "." or ".." ones.
var prefixRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+([-._~/][a-z0-9]+)*$`)
})

// CheckPrefix accepts an image name prefix ("example.com/app").
func CheckPrefix(p string) error {
	if !prefixRE().MatchString(p) || len(p) > 512 {
		return errdefs.InvalidArgument(fmt.Errorf("prefix %q is not an image name prefix (lowercase letters, digits, and -._~/ between them)", p))
	}
	return nil
}

// Fingerprint is a key's fingerprint as the keystore names its file.
func Fingerprint(e *openpgp.Entity) string {
	return hex.EncodeToString(e.PrimaryKey.Fingerprint)
}

// FormatFingerprint groups a fingerprint by four hex digits, as gpg shows it.
func FormatFingerprint(e *openpgp.Entity) string {
	h := strings.ToUpper(Fingerprint(e))
	var parts []string
	for i := 0; i < len(h); i += 4 {
		parts = append(parts, h[i:min(i+4, len(h))])
	}
	return strings.Join(parts, " ")
}

// ReadKeys reads public keys, armored or binary, from at most MaxKeySize
// bytes.
func ReadKeys(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxKeySize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxKeySize {
		return nil, errors.New("key file larger than 1 MiB")
	}
	var el openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP keys: %w", err)
	}
	if len(el) == 0 {
		return nil, errors.New("no OpenPGP key found")
	}
	for _, e := range el {
		if e.PrivateKey != nil {
			return nil, errors.New("a private key was given: give the public key only")
		}
	}
	return el, nil
}

// AddKey stores a public key in the local layer, trusted for prefix or,
// with root, for every name. It returns the key file's path.
func (ks Keystore) AddKey(e *openpgp.Entity, prefix string, root bool) (string, error) {
	if ks.Local == "" {
		return "", errors.New("no local configuration directory to store keys in")
	}
	dir := filepath.Join(ks.Local, RootDir)
	if !root {
		if err := CheckPrefix(prefix); err != nil {
			return "", err
		}
		dir = filepath.Join(ks.Local, PrefixDir, filepath.FromSlash(prefix))
	}
	data, err := ArmorPublicKey(e)
	if err != nil {
		return "", err
	}
	return writeKeyFile(dir, Fingerprint(e), data)
}

// ArmorPublicKey is e's public key, ASCII-armored: the form of the key
// files of the keystore.
func ArmorPublicKey(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("serializing key %s: %w", Fingerprint(e), err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Keyring returns the keys trusted for an image name: the root keys and
// the keys of every prefix of the name, whole path components only
// ("example.com", "example.com/app", ... for "example.com/app/x").
func (ks Keystore) Keyring(name string) (openpgp.EntityList, error) {
	dirs := trustDirs(PrefixDir, strings.Split(name, "/"), func(p []string) bool {
		return CheckPrefix(strings.Join(p, "/")) == nil
	})
	return readTrusted(ks, dirs, false, func(file string) ([]*openpgp.Entity, error) { return readKeyFile(file) })
}

// trustDirs are the keystore directories, relative to a layer, whose keys
// are trusted for a name of components comps: root.d, then the directory
// under base of each prefix of whole components, up to the first prefix
// that ok refuses.
func trustDirs(base string, comps []string, ok func(prefix []string) bool) []string {
	dirs := []string{RootDir}
	for i := range comps {
		if !ok(comps[:i+1]) {
			break
		}
		dirs = append(dirs, filepath.Join(base, filepath.Join(comps[:i+1]...)))
	}
	return dirs
}

// isCosignKeyFile tells the two kinds of key file apart by name: cosign
// keys are sha256-<hex>, OpenPGP keys their bare hex fingerprint. (They
// share root.d.)
func isCosignKeyFile(file string) bool {
	return strings.HasPrefix(filepath.Base(file), CosignKeyFilePrefix)
}

// readTrusted reads the key files of one kind (cosign or OpenPGP) in dirs
// across the layers, in order, with read: the one walk of the keystore that
// Keyring and CosignKeys make. A key file that does not read is an error
// naming it, not a key less.
func readTrusted[K any](ks Keystore, dirs []string, cosign bool, read func(file string) ([]K, error)) ([]K, error) {
	var out []K
	for _, d := range dirs {
		files, err := ks.keyFiles(d)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if isCosignKeyFile(f) != cosign {
				continue // the other kind's root key
			}
			keys, err := read(f)
			if err != nil {
				return nil, fmt.Errorf("trusted key %s: %w", f, err)
			}
			out = append(out, keys...)
		}
	}
	return out, nil
}

// keyFiles lists the key files of one keystore directory across the
// layers: a local file hides the system one of the same name, and an
// empty local file hides it without replacing it.
func (ks Keystore) keyFiles(rel string) ([]string, error) {
	chosen := map[string]string{}
	var order []string
	for _, layer := range []string{ks.System, ks.Local} {
		if layer == "" {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(layer, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".tmp") {
				continue // subdirectories are longer prefixes
			}
			if _, seen := chosen[e.Name()]; !seen {
				order = append(order, e.Name())
			}
			chosen[e.Name()] = filepath.Join(layer, rel, e.Name())
		}
	}
	var out []string
	for _, n := range order {
		if fi, err := os.Stat(chosen[n]); err == nil && fi.Size() > 0 {
			out = append(out, chosen[n])
		}
	}
	return out, nil
}

func readKeyFile(file string) (openpgp.EntityList, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadKeys(f)
}

// CheckDetached checks a detached signature (armored or binary, at most
// MaxSignatureSize bytes) of signed against keyring, the keys trusted for
// name (Keyring), and returns the signer.
func CheckDetached(keyring openpgp.EntityList, name string, signed io.Reader, signature []byte) (*openpgp.Entity, error) {
	if len(signature) > MaxSignatureSize {
		return nil, errors.New("signature larger than 1 MiB")
	}
	cfg := &packet.Config{}
	var signer *openpgp.Entity
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(signature), []byte("-----BEGIN")) {
		signer, err = openpgp.CheckArmoredDetachedSignature(keyring, signed, bytes.NewReader(signature), cfg)
	} else {
		signer, err = openpgp.CheckDetachedSignature(keyring, signed, bytes.NewReader(signature), cfg)
	}
	if err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) && len(keyring) == 0 {
			return nil, fmt.Errorf("%w (no key is trusted for %q: see rkt trust)", err, name)
		}
		return nil, err
	}
	return signer, nil
}

// Identities are the user IDs of a key, for showing it.
func Identities(e *openpgp.Entity) []string {
	return slices.Sorted(maps.Keys(e.Identities))
}
