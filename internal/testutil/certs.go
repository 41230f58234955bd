package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a throw-away certificate authority generated for one test.
type CA struct {
	// Cert is the self-signed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key *ecdsa.PrivateKey
	// CertPEM is Cert, PEM encoded.
	CertPEM []byte
	// File is the path of a file holding CertPEM.
	File string
}

// NewCA generates a self-signed ECDSA P-256 certificate authority valid for
// one day and writes its certificate to a PEM file in t.TempDir().
func NewCA(t testing.TB, commonName string) *CA {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"rkt testutil"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testutil: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testutil: parse CA certificate: %v", err)
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.File = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca.File, ca.CertPEM, 0o644); err != nil {
		t.Fatalf("testutil: write CA certificate: %v", err)
	}
	return ca
}

// Pool returns a certificate pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// ServerCert is a TLS server certificate issued by a CA.
type ServerCert struct {
	// CertFile and KeyFile are PEM files suitable for most servers'
	// certificate and key options.
	CertFile, KeyFile string
	// TLS is the same certificate ready for a tls.Config.
	TLS tls.Certificate
}

// IssueServerCert issues a server certificate for the given IP addresses and
// DNS names, signed by ca, and writes it and its key to PEM files in
// t.TempDir().
func (ca *CA) IssueServerCert(t testing.TB, ips []net.IP, dnsNames ...string) *ServerCert {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t),
		Subject:      pkix.Name{CommonName: "rkt testutil server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("testutil: create server certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("testutil: marshal server key: %v", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	sc := &ServerCert{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem")}
	if err := os.WriteFile(sc.CertFile, certPEM, 0o644); err != nil {
		t.Fatalf("testutil: write server certificate: %v", err)
	}
	if err := os.WriteFile(sc.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatalf("testutil: write server key: %v", err)
	}
	sc.TLS, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("testutil: load server key pair: %v", err)
	}
	return sc
}

// selfSignedSigner is a key with a self-signed certificate, used to sign
// registry tokens.
type selfSignedSigner struct {
	key     *ecdsa.PrivateKey
	certDER []byte
	certPEM []byte
}

func newSelfSignedSigner(t testing.TB, commonName string) *selfSignedSigner {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testutil: create token signing certificate: %v", err)
	}
	return &selfSignedSigner{
		key:     key,
		certDER: der,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testutil: generate key: %v", err)
	}
	return key
}

func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("testutil: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

// loopbackIP is the only address test servers listen on.
var loopbackIP = net.IPv4(127, 0, 0, 1)
