package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

const (
	testRepo   = "127.0.0.1:5000/busybox"
	testDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// cosignSigner is a private key and its public half as rkt reads it.
type cosignSigner struct {
	priv crypto.Signer
	pub  *CosignKey
}

func newCosignSigner(t *testing.T, kind string) cosignSigner {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseCosignKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return cosignSigner{priv: priv, pub: k}
}

// sign signs payload as cosign does and returns the base64 signature.
func (s cosignSigner) sign(t *testing.T, payload []byte) string {
	t.Helper()
	var sig []byte
	var err error
	if _, ok := s.priv.(ed25519.PrivateKey); ok {
		sig, err = s.priv.Sign(rand.Reader, payload, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(payload)
		sig, err = s.priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func payloadFor(repo, dg string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + repo + `"},"image":{"docker-manifest-digest":"` + dg + `"},"type":"cosign container image signature"},"optional":null}`)
}

func TestParseCosignKey(t *testing.T) {
	p256 := newCosignSigner(t, "p256")
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(p256.priv)
	for _, c := range []struct {
		name, in, alg, err string
	}{
		{"p256", pemOf("PUBLIC KEY", p256.pub.DER), "ECDSA P-256", ""},
		{"p384", pemOf("PUBLIC KEY", newCosignSigner(t, "p384").pub.DER), "ECDSA P-384", ""},
		{"rsa", pemOf("PUBLIC KEY", newCosignSigner(t, "rsa").pub.DER), "RSA 2048", ""},
		{"ed25519", pemOf("PUBLIC KEY", newCosignSigner(t, "ed25519").pub.DER), "Ed25519", ""},
		{"surrounding space", "\n\n" + pemOf("PUBLIC KEY", p256.pub.DER) + "\n \n", "ECDSA P-256", ""},
		{"not PEM", "hello", "", "no PEM block"},
		{"two blocks", pemOf("PUBLIC KEY", p256.pub.DER) + pemOf("PUBLIC KEY", p256.pub.DER), "", "more than one PEM block"},
		{"trailing junk", pemOf("PUBLIC KEY", p256.pub.DER) + "junk", "", "data after the PEM block"},
		{"private key", pemOf("PRIVATE KEY", privDER), "", "a private key was given"},
		{"encrypted cosign private key", pemOf("ENCRYPTED SIGSTORE PRIVATE KEY", []byte("x")), "", "a private key was given"},
		{"certificate", pemOf("CERTIFICATE", p256.pub.DER), "", `type "CERTIFICATE"`},
		{"garbage DER", pemOf("PUBLIC KEY", []byte("not DER")), "", "parsing public key"},
		{"small RSA", pemOf("PUBLIC KEY", smallDER), "", "RSA key of 1024 bits"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseCosignKey([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != c.alg {
				t.Errorf("algorithm %q, want %q", k.Algorithm(), c.alg)
			}
			if !strings.HasPrefix(k.Fingerprint(), "sha256:") || len(k.Fingerprint()) != 71 {
				t.Errorf("fingerprint %q", k.Fingerprint())
			}
		})
	}
	if IsPEMPublicKey([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")) || !IsPEMPublicKey([]byte(" -----BEGIN PUBLIC KEY-----\n")) {
		t.Error("IsPEMPublicKey confuses OpenPGP armor and PEM")
	}
}

func TestCosignKeystore(t *testing.T) {
	base := t.TempDir()
	ks := Keystore{System: filepath.Join(base, "system"), Local: filepath.Join(base, "local")}
	busy, busybox, registry, root, masked := newCosignSigner(t, "p256"), newCosignSigner(t, "p256"), newCosignSigner(t, "ed25519"), newCosignSigner(t, "rsa"), newCosignSigner(t, "p256")
	add := func(k *CosignKey, prefix string, root bool) string {
		t.Helper()
		p, err := ks.AddCosignKey(k, prefix, root)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := add(busy.pub, "docker://127.0.0.1:5000/busy", false)
	if want := filepath.Join(ks.Local, "prefix.d", "docker:", "127.0.0.1:5000", "busy", "sha256-"+strings.TrimPrefix(busy.pub.Fingerprint(), "sha256:")); p != want {
		t.Errorf("key stored at %s, want %s", p, want)
	}
	add(busybox.pub, "docker://127.0.0.1:5000/busybox", false)
	add(registry.pub, "docker://127.0.0.1:5000", false)
	add(root.pub, "", true)
	// A system key, masked by an empty local file of the same path.
	sys := Keystore{Local: ks.System}
	mp, err := sys.AddCosignKey(masked.pub, "docker://127.0.0.1:5000/busybox", false)
	if err != nil {
		t.Fatal(err)
	}
	// An OpenPGP root key beside the cosign root key: each kind skips
	// the other's files.
	if _, err := ks.AddKey(newKey(t, "pgp-root"), "", true); err != nil {
		t.Fatal(err)
	}
	if el, err := ks.Keyring("example.com/app"); err != nil || len(el) != 1 {
		t.Fatalf("OpenPGP keyring beside a cosign root key: %d keys, %v", len(el), err)
	}

	fps := func(repo string) string {
		t.Helper()
		r, err := name.NewRepository(repo)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := ks.CosignKeys(r)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			switch k.Fingerprint() {
			case busy.pub.Fingerprint():
				out = append(out, "busy")
			case busybox.pub.Fingerprint():
				out = append(out, "busybox")
			case registry.pub.Fingerprint():
				out = append(out, "registry")
			case root.pub.Fingerprint():
				out = append(out, "root")
			case masked.pub.Fingerprint():
				out = append(out, "masked")
			default:
				out = append(out, "?")
			}
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	for _, c := range []struct{ repo, want string }{
		{"127.0.0.1:5000/busybox", "busybox,masked,registry,root"},
		{"127.0.0.1:5000/busy", "busy,registry,root"},
		{"127.0.0.1:5000/busy/sub", "busy,registry,root"},
		{"127.0.0.1:5000/other", "registry,root"},
		{"127.0.0.1:5001/busybox", "root"},
		{"index.docker.io/library/busybox", "root"},
		{"../busybox", "root"}, // registry "..": no directory of its own
	} {
		if got := fps(c.repo); got != c.want {
			t.Errorf("keys for %s: %s, want %s", c.repo, got, c.want)
		}
	}
	rel, err := filepath.Rel(ks.System, mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ks.Local, rel), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := fps("127.0.0.1:5000/busybox"); got != "busybox,registry,root" {
		t.Errorf("keys with the system key masked: %s", got)
	}
	// A broken key file is an error, not a key less.
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "sha256-bad"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.CosignKeys(name.MustParseReference("127.0.0.1:5000/busy").Context()); err == nil || !strings.Contains(err.Error(), "sha256-bad") {
		t.Errorf("broken key file: %v", err)
	}
	// The prefix is parsed by image.NormalizeDockerPrefix; the keystore
	// refuses what would not be a directory of its own under prefix.d/docker:.
	for _, bad := range []string{"docker://", "docker://127.0.0.1:5000/../x", "docker://..", "docker://a//b", "docker://a/", "example.com/app", "docker://./a"} {
		if p, err := ks.AddCosignKey(busy.pub, bad, false); err == nil || !strings.Contains(err.Error(), "not a normalized registry or repository prefix") {
			t.Errorf("prefix %q: stored at %q, err %v", bad, p, err)
		}
	}
}

func TestParseCosignPayload(t *testing.T) {
	good := string(payloadFor(testRepo, testDigest))
	for _, c := range []struct{ name, in, err string }{
		{"good", good, ""},
		{"optional object", strings.Replace(good, `"optional":null`, `"optional":{"a":"b","a":"c"}`, 1), ""},
		{"no optional", strings.Replace(good, `,"optional":null`, ``, 1), ""},
		{"trailing junk", good + "x", "data after the JSON value"},
		{"two values", good + good, "data after the JSON value"},
		{"unknown top-level member", strings.Replace(good, `"optional"`, `"extra"`, 1), "unknown field"},
		{"unknown critical member", strings.Replace(good, `"type"`, `"other":1,"type"`, 1), "unknown field"},
		{"duplicate type", strings.Replace(good, `"type"`, `"type":"x","type"`, 1), "duplicate key"},
		{"duplicate digest", strings.Replace(good, `"docker-manifest-digest"`, `"docker-manifest-digest":"sha256:22","docker-manifest-digest"`, 1), "duplicate key"},
		{"no critical", `{"optional":null}`, "no critical section"},
		{"no type", strings.Replace(good, `,"type":"cosign container image signature"`, ``, 1), "no critical.type"},
		{"no identity", `{"critical":{"image":{"docker-manifest-digest":"x"},"type":"t"}}`, "no critical.identity"},
		{"no digest", `{"critical":{"identity":{"docker-reference":"x"},"image":{},"type":"t"}}`, "no critical.image"},
		{"wrong types", `{"critical":{"identity":{"docker-reference":1},"image":{"docker-manifest-digest":"x"},"type":"t"}}`, "cannot unmarshal"},
		{"not JSON", "not json", "parse payload"},
		{"too deep", `{"critical":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "nested too deeply"},
		{"too large", `{"critical":{"type":"` + strings.Repeat("a", MaxCosignPayloadSize) + `"}}`, "over the"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseCosignPayload([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != CosignSignatureType || p.DockerReference != testRepo || p.ManifestDigest != testDigest {
				t.Errorf("parsed %+v", p)
			}
		})
	}
}

func TestVerifyCosign(t *testing.T) {
	signers := map[string]cosignSigner{}
	for _, kind := range []string{"p256", "p384", "rsa", "ed25519"} {
		signers[kind] = newCosignSigner(t, kind)
	}
	other := newCosignSigner(t, "p256")
	good := payloadFor(testRepo, testDigest)
	for kind, s := range signers {
		t.Run("good "+kind, func(t *testing.T) {
			k, err := VerifyCosign([]*CosignKey{other.pub, s.pub}, []CosignSignature{{Payload: good, Signature: s.sign(t, good)}}, name.MustParseReference(testRepo).Context(), testDigest)
			if err != nil || k != s.pub {
				t.Fatalf("verify: %v (key %v)", err, k)
			}
		})
	}
	s := signers["p256"]
	sig := func(p []byte) CosignSignature { return CosignSignature{Payload: p, Signature: s.sign(t, p)} }
	wrongType := []byte(strings.Replace(string(good), "cosign container image signature", "atomic container signature", 1))
	for _, c := range []struct {
		name string
		keys []*CosignKey
		sigs []CosignSignature
		repo string
		err  string
	}{
		{"docker hub names", []*CosignKey{s.pub}, []CosignSignature{sig(payloadFor("busybox", testDigest))}, "index.docker.io/library/busybox", ""},
		{"one good of two", []*CosignKey{s.pub}, []CosignSignature{{Payload: good, Signature: other.sign(t, good)}, sig(good)}, testRepo, ""},
		{"wrong key", []*CosignKey{s.pub}, []CosignSignature{{Payload: good, Signature: other.sign(t, good)}}, testRepo, "made by none of the 1 trusted keys"},
		{"wrong digest", []*CosignKey{s.pub}, []CosignSignature{sig(payloadFor(testRepo, "sha256:2222222222222222222222222222222222222222222222222222222222222222"))}, testRepo, "payload signs manifest digest"},
		{"wrong repository", []*CosignKey{s.pub}, []CosignSignature{sig(payloadFor("127.0.0.1:5000/busy", testDigest))}, testRepo, "payload signs repository"},
		{"other registry", []*CosignKey{s.pub}, []CosignSignature{sig(payloadFor("127.0.0.1:5001/busybox", testDigest))}, testRepo, "payload signs repository"},
		{"unparsable repository", []*CosignKey{s.pub}, []CosignSignature{sig(payloadFor("Not A Repo", testDigest))}, testRepo, "payload signs repository"},
		{"wrong type", []*CosignKey{s.pub}, []CosignSignature{sig(wrongType)}, testRepo, "payload type is"},
		{"signed junk", []*CosignKey{s.pub}, []CosignSignature{sig(append(good, 'x'))}, testRepo, "data after the JSON value"},
		{"payload changed after signing", []*CosignKey{s.pub}, []CosignSignature{{Payload: payloadFor(testRepo, testDigest+"0"), Signature: s.sign(t, good)}}, testRepo, "made by none"},
		{"bad base64", []*CosignKey{s.pub}, []CosignSignature{{Payload: good, Signature: "%%%"}}, testRepo, "not valid base64"},
		{"empty signature", []*CosignKey{s.pub}, []CosignSignature{{Payload: good}}, testRepo, "made by none"},
		{"huge signature", []*CosignKey{s.pub}, []CosignSignature{{Payload: good, Signature: strings.Repeat("A", MaxCosignSignatureSize+4)}}, testRepo, "over the size limit"},
		{"no signature", []*CosignKey{s.pub}, nil, testRepo, "no signature"},
		{"no key", nil, []CosignSignature{sig(good)}, testRepo, "no key is trusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := testDigest
			repo, err := name.NewRepository(c.repo)
			if err != nil {
				t.Fatal(err)
			}
			_, err = VerifyCosign(c.keys, c.sigs, repo, want)
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
}
