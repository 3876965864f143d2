// Package testcert makes self-signed TLS certificates for tests: a certificate for localhost,
// 127.0.0.1 and ::1, its key, and a pool that trusts it.
package testcert

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

// Cert is a self-signed certificate, in memory and in PEM files.
type Cert struct {
	Pair              tls.Certificate
	Pool              *x509.CertPool // trusts the certificate
	CertFile, KeyFile string         // PEM
}

// New makes a certificate valid for a day, with its files in a temporary directory.
func New(t testing.TB) Cert {
	t.Helper()
	return NewIn(t, t.TempDir(), "localhost")
}

// NewIn makes a certificate for the common name cn, with its files in dir (cert.pem and
// key.pem, replaced if there).
func NewIn(t testing.TB, dir, cn string) Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	c := Cert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	// Written beside and renamed over, as certbot and editors do, so a watcher never reads
	// half a file.
	for _, f := range []struct {
		name string
		data []byte
	}{{c.KeyFile, keyPEM}, {c.CertFile, certPEM}} {
		if err := os.WriteFile(f.name+".tmp", f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.name+".tmp", f.name); err != nil {
			t.Fatal(err)
		}
	}
	if c.Pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	c.Pool = x509.NewCertPool()
	c.Pool.AddCert(leaf)
	return c
}
