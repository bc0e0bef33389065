// Package audittest gives tests an audit key file.
package audittest

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

// KeyFile writes a new random audit key (base64, 32 bytes) into a file of
// t's temporary directory and returns its path: a service's *_AUDIT_KEY_FILE.
func KeyFile(t testing.TB) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
