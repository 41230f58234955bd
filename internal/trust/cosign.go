package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/rkt/rkt/internal/errdefs"
)

// Cosign's legacy ("simple signing") image signatures: a JSON payload naming
// a manifest digest and a repository, signed with a key whose public half
// is a PEM "PUBLIC KEY". Keys are trusted for docker:// prefixes in the same
// keystore layout as OpenPGP keys: prefix.d/docker:/REGISTRY/REPO/sha256-HEX
// (the prefix cleaned as a path) and root.d/sha256-HEX, where HEX is the
// SHA-256 of the key's DER encoding.
const (
	// DockerPrefix starts every prefix a cosign key is trusted for.
	DockerPrefix = "docker://"
	// CosignKeyFilePrefix starts the file name of every cosign key; OpenPGP
	// key files are named by their bare hex fingerprint.
	CosignKeyFilePrefix = "sha256-"
	// CosignSignatureType is the payload's critical.type.
	CosignSignatureType = "cosign container image signature"
	// MaxCosignPayloadSize bounds a signed payload; cosign's are a few
	// hundred bytes.
	MaxCosignPayloadSize = 256 << 10
	// MaxCosignSignatureSize bounds a base64 signature (an RSA-8192
	// signature is about 1.4 KiB in base64).
	MaxCosignSignatureSize = 8 << 10
)

// CosignKey is a public key that cosign signatures are checked against.
type CosignKey struct {
	// Public is an *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
	// DER is the key's PKIX encoding.
	DER []byte
	// File is the keystore file it was read from, if any.
	File string
}

// Fingerprint is the SHA-256 of the key's DER encoding, as
// "sha256:<hex>".
func (k *CosignKey) Fingerprint() string {
	s := sha256.Sum256(k.DER)
	return "sha256:" + hex.EncodeToString(s[:])
}

// fileName is the key's keystore file name.
func (k *CosignKey) fileName() string {
	return CosignKeyFilePrefix + strings.TrimPrefix(k.Fingerprint(), "sha256:")
}

// Algorithm describes the key ("ECDSA P-256", "RSA 3072", "Ed25519").
func (k *CosignKey) Algorithm() string {
	switch pk := k.Public.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + pk.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", pk.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return "unknown"
}

// PEM is the key as its keystore file holds it.
func (k *CosignKey) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.DER})
}

// IsPEMPublicKey says whether data looks like a PEM key (of any type) rather
// than an OpenPGP key, armored or binary.
func IsPEMPublicKey(data []byte) bool {
	data = bytes.TrimSpace(data)
	return bytes.HasPrefix(data, []byte("-----BEGIN ")) && !bytes.HasPrefix(data, []byte("-----BEGIN PGP "))
}

// ParseCosignKey parses one PEM "PUBLIC KEY" block (PKIX): ECDSA on P-256,
// P-384 or P-521, RSA of at least 2048 bits, or Ed25519. Nothing but white
// space may surround the block.
func ParseCosignKey(data []byte) (*CosignKey, error) {
	if len(data) > MaxKeySize {
		return nil, errors.New("key file larger than 1 MiB")
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block, or data after the PEM block")
	}
	if strings.Contains(block.Type, "PRIVATE") {
		return nil, errors.New("a private key was given: give the public key only (cosign.pub)")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block of type %q: want PUBLIC KEY", block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM block has headers")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	switch pk := pub.(type) {
	case *ecdsa.PublicKey:
		switch pk.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("ECDSA key on curve %s: want P-256, P-384 or P-521", pk.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if pk.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: want at least 2048", pk.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported key type %T: want ECDSA, RSA or Ed25519", pub)
	}
	return &CosignKey{Public: pub, DER: block.Bytes}, nil
}

// ReadCosignKey reads a PEM public key of at most MaxKeySize bytes.
func ReadCosignKey(r io.Reader) (*CosignKey, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxKeySize+1))
	if err != nil {
		return nil, err
	}
	return ParseCosignKey(data)
}

func readCosignKeyFile(file string) (*CosignKey, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCosignKey(f)
}

// IsDockerPrefix says whether a prefix names registry images (docker://).
func IsDockerPrefix(p string) bool { return strings.HasPrefix(p, DockerPrefix) }

// plainName says whether a prefix component names a directory of its own
// under its parent: not empty, ".", ".." or with a slash in it.
func plainName(c string) bool {
	return c != "" && c != "." && c != ".." && !strings.ContainsAny(c, "/\x00")
}

// dockerDir holds, under prefix.d, the keys of docker:// prefixes, each
// under its registry and repository path ("prefix.d/docker:/127.0.0.1:5000/app").
// No appc prefix has a colon, so the two kinds never share a directory.
const dockerDir = "docker:"

// AddCosignKey stores a PEM public key in the local layer, trusted for a
// docker:// prefix or, with root, for every registry image. It returns the
// key file's path. The prefix is read as image.NormalizeDockerPrefix
// returns it (docker://REGISTRY[/REPOSITORY], as image references resolve
// it): that is where registry and repository names are parsed; this only
// refuses what would not be a directory under prefix.d/docker:.
func (ks Keystore) AddCosignKey(k *CosignKey, prefix string, root bool) (string, error) {
	if ks.Local == "" {
		return "", errors.New("no local configuration directory to store keys in")
	}
	dir := filepath.Join(ks.Local, RootDir)
	if !root {
		rest, ok := strings.CutPrefix(prefix, DockerPrefix)
		comps := strings.Split(rest, "/")
		if !ok || len(prefix) > 512 || slices.ContainsFunc(comps, func(c string) bool { return !plainName(c) }) {
			return "", errdefs.InvalidArgument(fmt.Errorf("prefix %q is not a normalized registry or repository prefix (docker://REGISTRY[/REPOSITORY])", prefix))
		}
		dir = filepath.Join(ks.Local, PrefixDir, dockerDir, filepath.Join(comps...))
	}
	return writeKeyFile(dir, k.fileName(), k.PEM())
}

// writeKeyFile writes a key file atomically.
func writeKeyFile(dir, base string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: trusted public keys, readable by all as in rkt 1.x
		return "", err
	}
	file := filepath.Join(dir, base)
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil { //nolint:gosec // G306: a public key
		return "", err
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return file, nil
}

// CosignKeys returns the keys trusted for the images of a repository, named
// as image references resolve it ("127.0.0.1:5000/app",
// "index.docker.io/library/busybox"): the root cosign keys and the keys of
// docker://REGISTRY and of every prefix of the repository path, whole path
// components only.
func (ks Keystore) CosignKeys(repo name.Repository) ([]*CosignKey, error) {
	comps := append([]string{repo.RegistryStr()}, strings.Split(repo.RepositoryStr(), "/")...)
	dirs := trustDirs(filepath.Join(PrefixDir, dockerDir), comps, func(p []string) bool { return plainName(p[len(p)-1]) })
	return readTrusted(ks, dirs, true, func(file string) ([]*CosignKey, error) {
		k, err := readCosignKeyFile(file)
		if err != nil {
			return nil, err
		}
		k.File = file
		return []*CosignKey{k}, nil
	})
}

// CosignPayload is the part of a simple-signing payload that rkt checks.
type CosignPayload struct {
	// Type is critical.type.
	Type string
	// DockerReference is critical.identity.docker-reference.
	DockerReference string
	// ManifestDigest is critical.image.docker-manifest-digest.
	ManifestDigest string
}

// ParseCosignPayload parses a simple-signing payload strictly: one JSON
// object with "critical" (and nothing but type, identity.docker-reference
// and image.docker-manifest-digest in it, each once) and an optional
// "optional" of any JSON value, no other member, nothing after it.
func ParseCosignPayload(b []byte) (*CosignPayload, error) {
	if len(b) > MaxCosignPayloadSize {
		return nil, fmt.Errorf("payload of %d bytes is over the %d byte limit", len(b), MaxCosignPayloadSize)
	}
	var top struct {
		Critical *struct {
			Type     *string `json:"type"`
			Identity *struct {
				DockerReference *string `json:"docker-reference"`
			} `json:"identity"`
			Image *struct {
				DockerManifestDigest *string `json:"docker-manifest-digest"`
			} `json:"image"`
		} `json:"critical"`
		Optional json.RawMessage `json:"optional"`
	}
	if err := strictUnmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("parse payload: %w", err)
	}
	c := top.Critical
	switch {
	case c == nil:
		return nil, errors.New("payload has no critical section")
	case c.Type == nil:
		return nil, errors.New("payload has no critical.type")
	case c.Identity == nil || c.Identity.DockerReference == nil:
		return nil, errors.New("payload has no critical.identity.docker-reference")
	case c.Image == nil || c.Image.DockerManifestDigest == nil:
		return nil, errors.New("payload has no critical.image.docker-manifest-digest")
	}
	return &CosignPayload{Type: *c.Type, DockerReference: *c.Identity.DockerReference, ManifestDigest: *c.Image.DockerManifestDigest}, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields,
// duplicate object keys (outside "optional") and anything after the value.
func strictUnmarshal(b []byte, v any) error {
	if err := checkDuplicateKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// checkDuplicateKeys refuses a JSON document in which an object outside
// the top-level "optional" member has a key twice: encoding/json would
// take the last, another parser the first.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var walk func(depth int, path string) error
	walk = func(depth int, path string) error {
		if depth > 32 {
			return errors.New("JSON nested too deeply")
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if seen[k] && path != "optional" {
					return fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				sub := k
				if path != "" {
					sub = path + "." + k
				}
				if err := walk(depth+1, sub); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := walk(depth+1, path+"[]"); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	return walk(0, "")
}

// CosignSignature is one signature of an image as its registry holds it.
type CosignSignature struct {
	// Payload is the signed simple-signing payload.
	Payload []byte
	// Signature is the base64 of the signature, as the layer annotation
	// dev.cosignproject.cosign/signature holds it.
	Signature string
}

// VerifyCosign checks an image's signatures against keys: it returns the
// key of the first signature that verifies and whose payload has the
// cosign type, names manifestDigest (the digest the image reference
// resolves to: an index's for a multi-platform image) and names want, the
// image's repository (compared as image references resolve it). Otherwise
// the error says why each signature was refused.
func VerifyCosign(keys []*CosignKey, sigs []CosignSignature, want name.Repository, manifestDigest string) (*CosignKey, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key is trusted for %s", want.Name())
	}
	if len(sigs) == 0 {
		return nil, errors.New("no signature")
	}
	var reasons []string
	for i, s := range sigs {
		k, why := checkCosignSignature(keys, s, want, manifestDigest)
		if k != nil {
			return k, nil
		}
		if len(sigs) > 1 {
			why = fmt.Sprintf("signature %d: %s", i+1, why)
		}
		reasons = append(reasons, why)
	}
	return nil, errors.New(strings.Join(reasons, "; "))
}

// checkCosignSignature returns the key s verifies with, or why s is
// refused.
func checkCosignSignature(keys []*CosignKey, s CosignSignature, repo name.Repository, manifestDigest string) (*CosignKey, string) {
	k, why := verifyingKey(keys, s)
	if k == nil {
		return nil, why
	}
	p, err := ParseCosignPayload(s.Payload)
	if err != nil {
		return nil, err.Error()
	}
	if p.Type != CosignSignatureType {
		return nil, fmt.Sprintf("payload type is %q, want %q", p.Type, CosignSignatureType)
	}
	if p.ManifestDigest != manifestDigest {
		return nil, fmt.Sprintf("payload signs manifest digest %q, not the image's %s", p.ManifestDigest, manifestDigest)
	}
	got, err := name.ParseReference(p.DockerReference)
	if err != nil || got.Context().Name() != repo.Name() {
		return nil, fmt.Sprintf("payload signs repository %q, not the image's %s", p.DockerReference, repo.Name())
	}
	return k, ""
}

// verifyingKey returns the key whose signature s is, or why there is none.
func verifyingKey(keys []*CosignKey, s CosignSignature) (*CosignKey, string) {
	if len(s.Signature) > MaxCosignSignatureSize {
		return nil, "signature annotation over the size limit"
	}
	if len(s.Payload) > MaxCosignPayloadSize {
		return nil, "payload over the size limit"
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(s.Signature)
	if err != nil {
		return nil, "signature is not valid base64"
	}
	for _, k := range keys {
		if verifySignature(k.Public, s.Payload, sig) {
			return k, ""
		}
	}
	return nil, fmt.Sprintf("made by none of the %d trusted keys", len(keys))
}

// verifySignature checks sig over payload as cosign makes it: ECDSA (ASN.1)
// and RSA PKCS #1 v1.5 over the payload's SHA-256, whatever the curve or
// modulus size; Ed25519 over the payload itself.
func verifySignature(pub crypto.PublicKey, payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	switch pk := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pk, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pk, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(pk, payload, sig)
	}
	return false
}
