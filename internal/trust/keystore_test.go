package trust

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

func newKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// publicOnly is e's public key as ReadKeys reads it from a file.
func publicOnly(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	data, err := ArmorPublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	el, err := ReadKeys(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return el[0]
}

func sign(t *testing.T, e *openpgp.Entity, data string, armored bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if armored {
		err = openpgp.ArmoredDetachSign(&buf, e, strings.NewReader(data), nil)
	} else {
		err = openpgp.DetachSign(&buf, e, strings.NewReader(data), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestKeystoreVerify(t *testing.T) {
	base := t.TempDir()
	ks := Keystore{System: filepath.Join(base, "system"), Local: filepath.Join(base, "local")}
	app, root, other, masked := newKey(t, "app"), newKey(t, "root"), newKey(t, "other"), newKey(t, "masked")
	if _, err := ks.AddKey(publicOnly(t, app), "example.com/app", false); err != nil {
		t.Fatal(err)
	}
	// A system key masked by an empty local file, and a root key.
	sys := Keystore{Local: ks.System}
	p, err := sys.AddKey(publicOnly(t, masked), "example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyDetached(ks, "example.com/app", strings.NewReader("x"), sign(t, masked, "x", true)); err != nil {
		t.Fatalf("the system key, not masked yet: %v", err)
	}
	rel, _ := filepath.Rel(ks.System, p)
	if err := os.MkdirAll(filepath.Dir(filepath.Join(ks.Local, rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ks.Local, rel), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(ks.System, "prefix.d", "example.com", Fingerprint(masked)); p != want {
		t.Errorf("key path %s, want %s", p, want)
	}

	for _, c := range []struct {
		name   string
		signer *openpgp.Entity
		root   bool
		ok     bool
	}{
		{"example.com/app", app, false, true},
		{"example.com/app/sub", app, false, true},
		{"example.com/application", app, false, false},
		{"example.com", app, false, false},
		{"example.com/app", other, false, false},
		{"example.com/app", masked, false, false},
		{"example.com/app", root, false, false},
		{"anything.org/x", root, true, true},
	} {
		if c.root {
			if _, err := ks.AddKey(publicOnly(t, root), "", true); err != nil {
				t.Fatal(err)
			}
		}
		for _, armored := range []bool{true, false} {
			sig := sign(t, c.signer, "image bytes", armored)
			got, err := verifyDetached(ks, c.name, strings.NewReader("image bytes"), sig)
			if c.ok != (err == nil) {
				t.Errorf("%s signed by %s (armored %v): %v", c.name, Identities(c.signer), armored, err)
			}
			if err == nil && Fingerprint(got) != Fingerprint(c.signer) {
				t.Errorf("signer %s, want %s", Fingerprint(got), Fingerprint(c.signer))
			}
			if c.ok {
				if _, err := verifyDetached(ks, c.name, strings.NewReader("other bytes"), sig); err == nil {
					t.Errorf("%s: a signature of other bytes verified", c.name)
				}
			}
		}
	}
}

// TestCheckDetached checks a keyring read once (Keyring) against
// signatures, and that a broken key file is an error, not a key less.
func TestCheckDetached(t *testing.T) {
	ks := Keystore{Local: t.TempDir()}
	app, other := newKey(t, "app"), newKey(t, "other")
	if _, err := ks.AddKey(publicOnly(t, app), "example.com/app", false); err != nil {
		t.Fatal(err)
	}
	keyring, err := ks.Keyring("example.com/app/x")
	if err != nil || len(keyring) != 1 {
		t.Fatalf("keyring: %d keys, %v", len(keyring), err)
	}
	for _, c := range []struct {
		name    string
		keyring openpgp.EntityList
		signer  *openpgp.Entity
		err     string
	}{
		{"trusted", keyring, app, ""},
		{"other signer", keyring, other, "unknown entity"},
		{"no key", nil, app, `no key is trusted for "example.com/app/x"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := CheckDetached(c.keyring, "example.com/app/x", strings.NewReader("x"), sign(t, c.signer, "x", false))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || Fingerprint(got) != Fingerprint(c.signer) {
				t.Fatalf("signer %v, err %v", got, err)
			}
		})
	}
	if _, err := CheckDetached(keyring, "example.com/app/x", strings.NewReader("x"), make([]byte, MaxSignatureSize+1)); err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("huge signature: %v", err)
	}
	bad := filepath.Join(ks.Local, "prefix.d", "example.com", "0123")
	if err := os.WriteFile(bad, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Keyring("example.com/app"); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken key file: %v", err)
	}
}

func TestCheckPrefix(t *testing.T) {
	for p, ok := range map[string]bool{
		"example.com": true, "example.com/app": true, "a/b-c/d_e.f~g": true,
		"": false, "/example.com": false, "example.com/": false, "a//b": false, "a/../b": false,
		"Example.com": false, "a b": false, "a/./b": false, strings.Repeat("a", 513): false,
	} {
		if err := CheckPrefix(p); (err == nil) != ok {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func TestReadKeys(t *testing.T) {
	e := newKey(t, "k")
	var priv bytes.Buffer
	w, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, c := range []struct {
		name, data, err string
	}{
		{"private key", priv.String(), "private key"},
		{"garbage", "not a key", "reading OpenPGP keys"},
		{"too big", strings.Repeat("x", MaxKeySize+1), "larger than 1 MiB"},
	} {
		if _, err := ReadKeys(strings.NewReader(c.data)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
	if got := FormatFingerprint(e); len(got) != 49 || strings.Count(got, " ") != 9 {
		t.Errorf("fingerprint %q", got)
	}
}

func FuzzReadKeys(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x99, 0x01, 0x0d})
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := ReadKeys(bytes.NewReader(data))
		if err == nil && len(el) == 0 {
			t.Fatal("no keys and no error")
		}
	})
}

// verifyDetached checks a signature against the keys ks trusts for name,
// as a fetch does.
func verifyDetached(ks Keystore, name string, signed io.Reader, signature []byte) (*openpgp.Entity, error) {
	keyring, err := ks.Keyring(name)
	if err != nil {
		return nil, err
	}
	return CheckDetached(keyring, name, signed, signature)
}
