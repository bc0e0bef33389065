package apsc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long every certificate the emulator issues is valid.
const certValidity = 2 * 365 * 24 * time.Hour

// authority is the emulator's in-memory APSC certificate authority.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// issued is a certificate issued by the authority, with its key.
type issued struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte // PKCS#1 for RSA keys, SEC 1 for ECDSA keys
}

// tlsCertificate returns the certificate and key as a tls.Certificate.
func (i *issued) tlsCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{i.cert.Raw}, PrivateKey: i.key, Leaf: i.cert}
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// newAuthority creates a self-signed CA. The CA key is ECDSA P-256: it
// never leaves the emulator, so its type does not matter and it is cheap.
func newAuthority(commonName string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"o365gateway APSC emulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// certRequest describes a leaf certificate to issue.
type certRequest struct {
	commonName string
	rsa        bool // RSA 2048 key (PKCS#1 PEM) instead of ECDSA P-256
	client     bool // client-auth EKU
	server     bool // server-auth EKU, with the loopback names
}

// issue signs a new leaf certificate with a fresh key.
func (a *authority) issue(req certRequest) (*issued, error) {
	var (
		key    crypto.Signer
		keyPEM []byte
	)
	if req.rsa {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
		key = k
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ECDSA key: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		key = k
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.commonName, Organization: []string{"o365gateway APSC emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if req.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if req.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", req.commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &issued{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

// SplitSelfPEM splits the value of aps.x509.self (the instance certificate
// followed by its private key, both PEM) into a TLS certificate. It is the
// parsing a facade has to do, offered for tests and fakes.
func SplitSelfPEM(self string) (tls.Certificate, error) {
	var certPEM, keyPEM []byte
	rest := []byte(self)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		enc := pem.EncodeToMemory(block)
		switch block.Type {
		case "CERTIFICATE":
			certPEM = append(certPEM, enc...)
		case "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY":
			keyPEM = append(keyPEM, enc...)
		}
	}
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return tls.Certificate{}, errors.New("apsc: aps.x509.self must hold a certificate and a private key in PEM")
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// EnsureAuthority loads the emulator's CA from dir (ca.pem, ca-key.pem),
// creating it on first use, and returns the CA certificate's file: what a
// deployment configures as the controllers' CA (TENANT_APSC_CA_FILE,
// FACADE_CONTROLLER_CA_FILE).
func EnsureAuthority(dir string) (string, error) {
	_, err := loadAuthority(dir)
	return filepath.Join(dir, "ca.pem"), err
}

// loadAuthority reads the CA kept in dir, or creates and keeps a new one.
func loadAuthority(dir string) (*authority, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		signer, ok := pair.PrivateKey.(crypto.Signer)
		if err == nil && ok && time.Until(cert.NotAfter) > 24*time.Hour {
			return &authority{cert: cert, key: signer, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("controller CA in %s: %w", dir, err)
	}
	a, err := newAuthority("APS Controller CA")
	if err != nil {
		return nil, err
	}
	key, ok := a.key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("controller CA: unexpected key type")
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, a.pem, 0o644); err != nil {
		return nil, err
	}
	return a, nil
}
