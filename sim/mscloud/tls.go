package mscloud

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
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// TLSBundle is an in-memory certificate authority and a server certificate
// it issued. Clients trust the simulator through CAPEM or Pool.
type TLSBundle struct {
	CACert      *x509.Certificate
	CAPEM       []byte
	Pool        *x509.CertPool
	Certificate tls.Certificate // server certificate chain and key
	caKey       *ecdsa.PrivateKey
}

// DefaultHosts are always in the server certificate.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// NewTLS creates a fresh CA and a server certificate for DefaultHosts plus
// extraHosts (IP addresses or DNS names).
func NewTLS(extraHosts ...string) (*TLSBundle, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "mscloud simulator CA", Organization: []string{"o365gateway simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return issueServer(ca, caKey, extraHosts)
}

// LoadOrCreateTLS keeps the CA in dir (ca.pem, ca-key.pem) so that restarts
// keep the CA clients already trust; the server certificate is issued anew
// on every start.
func LoadOrCreateTLS(dir string, extraHosts ...string) (*TLSBundle, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, errCert := os.ReadFile(certPath)
	keyPEM, errKey := os.ReadFile(keyPath)
	if errors.Is(errCert, os.ErrNotExist) && errors.Is(errKey, os.ErrNotExist) {
		b, err := NewTLS(extraHosts...)
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(b.caKey)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(certPath, b.CAPEM, 0o644); err != nil {
			return nil, err
		}
		return b, nil
	}
	if errCert != nil || errKey != nil {
		return nil, fmt.Errorf("tls dir %s: need both ca.pem and ca-key.pem: %w", dir, errors.Join(errCert, errKey))
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("tls dir %s: ca.pem or ca-key.pem is not PEM", dir)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return issueServer(ca, key, extraHosts)
}

func issueServer(ca *x509.Certificate, caKey *ecdsa.PrivateKey, extraHosts []string) (*TLSBundle, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "mscloud simulator"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range append(append([]string{}, DefaultHosts...), extraHosts...) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &TLSBundle{
		CACert: ca,
		CAPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		Pool:   pool,
		Certificate: tls.Certificate{
			Certificate: [][]byte{der, ca.Raw}, PrivateKey: key, Leaf: leaf,
		},
		caKey: caKey,
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err)
	}
	return n
}

// ServerConfig is the TLS configuration for the simulator's listener (for
// httptest: ts.TLS = b.ServerConfig(); ts.StartTLS()).
func (b *TLSBundle) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{b.Certificate}, MinVersion: tls.VersionTLS12}
}

// ClientConfig trusts only the simulator's CA.
func (b *TLSBundle) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: b.Pool, MinVersion: tls.VersionTLS12}
}

// Client returns an HTTP client that trusts the simulator's CA. It fits
// azcore's ClientOptions.Transport.
func (b *TLSBundle) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = b.ClientConfig()
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
