// Package devpki is a development CA in a folder and the certificates it
// issues to the processes of a development stack and to tests: each with
// its SPIFFE ID (spiffe://<trust domain>/<name>) as its one URI SAN, as
// package mtls expects. Production certificates come from the
// deployment's CA instead (cert-manager, a service mesh's CA, an
// operator's PKI).
package devpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PKI is a development CA in a folder: created on first use and reused;
// certificates about to expire are issued again.
type PKI struct {
	Dir         string
	TrustDomain string
}

// CAFile is the CA certificate every process trusts.
func (p PKI) CAFile() string { return filepath.Join(p.Dir, "ca.pem") }

// Files name a certificate, its key and the CA that issued it.
type Files struct {
	CA, Cert, Key string
}

// Files returns the files of name's certificate, issuing it when missing,
// expiring within a week, or issued by another CA.
func (p PKI) Files(name string) (Files, error) {
	ca, caKey, err := p.ca()
	if err != nil {
		return Files{}, err
	}
	base := strings.ReplaceAll(name, "/", "_") // tool/alice → tool_alice.pem
	f := Files{CA: p.CAFile(), Cert: filepath.Join(p.Dir, base+".pem"), Key: filepath.Join(p.Dir, base+"-key.pem")}
	if pair, err := tls.LoadX509KeyPair(f.Cert, f.Key); err == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err == nil && time.Until(leaf.NotAfter) > 7*24*time.Hour && leaf.CheckSignatureFrom(ca) == nil {
			return f, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, err
	}
	id := &url.URL{Scheme: "spiffe", Host: strings.ToLower(p.TrustDomain), Path: "/" + name}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"o365gateway development"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return Files{}, err
	}
	if err := writePair(f.Cert, f.Key, der, key); err != nil {
		return Files{}, err
	}
	return f, nil
}

// ca loads or creates the CA.
func (p PKI) ca() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certFile, keyFile := p.CAFile(), filepath.Join(p.Dir, "ca-key.pem")
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if err == nil && ok && time.Until(cert.NotAfter) > 30*24*time.Hour {
			return cert, key, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("development CA in %s: %w", p.Dir, err)
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "o365gateway development CA (" + p.TrustDomain + ")"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// writePair writes a certificate and its key, each through a temporary
// file renamed into place, so that a reader never sees half a file.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
