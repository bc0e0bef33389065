package mscloud

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestNewTLSHosts(t *testing.T) {
	b, err := NewTLS("sim.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "sim.example.test"} {
		if _, err := b.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: b.Pool}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := b.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: b.Pool}); err == nil {
		t.Error("certificate valid for an unlisted host")
	}
	other, _ := NewTLS()
	if _, err := b.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: other.Pool}); err == nil {
		t.Error("certificate trusted by another CA")
	}
	if !bytes.Contains(b.CAPEM, []byte("BEGIN CERTIFICATE")) || !b.CACert.IsCA {
		t.Error("CA PEM")
	}
}

func TestLoadOrCreateTLSKeepsCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	first, err := LoadOrCreateTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CAPEM, second.CAPEM) {
		t.Fatal("CA changed across restarts")
	}
	if _, err := second.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: first.Pool}); err != nil {
		t.Errorf("new server certificate not trusted by the persisted CA: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := os.Remove(filepath.Join(dir, "ca-key.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateTLS(dir); err == nil {
		t.Error("half a CA was accepted")
	}
}
