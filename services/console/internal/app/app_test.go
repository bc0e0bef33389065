package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/console/internal/config"
)

// writePair writes a self-signed certificate named cn and its key.
func writePair(t *testing.T, dir, cn string) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cert, keyFile := filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}

func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	if c, err := serverTLS(&config.Config{}); c != nil || err != nil {
		t.Fatalf("no files: %v %v", c, err)
	}
	cert, key := writePair(t, dir, "console")
	c, err := serverTLS(&config.Config{TLSCertFile: cert, TLSKeyFile: key})
	if err != nil || c.ClientAuth != tls.NoClientCert || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("%+v %v", c, err)
	}
	first, err := c.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A renewed certificate is served without a restart.
	time.Sleep(10 * time.Millisecond)
	writePair(t, dir, "console")
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(cert, future, future)
	second, err := c.GetCertificate(nil)
	if err != nil || string(second.Certificate[0]) == string(first.Certificate[0]) {
		t.Fatalf("the renewed certificate is not served: %v", err)
	}

	ca, _ := writePair(t, dir, "operators")
	c, err = serverTLS(&config.Config{TLSCertFile: cert, TLSKeyFile: key, ClientCAFile: ca})
	if err != nil || c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		t.Fatalf("client certificates: %+v %v", c, err)
	}
	if _, err := serverTLS(&config.Config{TLSCertFile: cert, TLSKeyFile: key, ClientCAFile: key}); err == nil {
		t.Error("a CA file without a certificate accepted")
	}
	if _, err := serverTLS(&config.Config{TLSCertFile: filepath.Join(dir, "none.pem"), TLSKeyFile: key}); err == nil {
		t.Error("a missing server certificate accepted")
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9080": true, "localhost:1": true, "[::1]:9080": true, "0.0.0.0:9080": false,
		":9080": false, "10.0.0.1:80": false} {
		if loopback(addr) != want {
			t.Errorf("%s: %v", addr, !want)
		}
	}
}
