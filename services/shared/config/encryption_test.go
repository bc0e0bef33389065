package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type withEncryption struct{ Encryption }

func (w *withEncryption) Validate() error { return w.Encryption.Validate() }

func TestEncryptionSettings(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, id := range []string{"2026-01", "2027-01"} {
		if err := os.WriteFile(filepath.Join(dir, id), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		env  map[string]string
		want string // "" for valid
	}{
		{map[string]string{}, "ENCRYPTION_KEY, ENCRYPTION_KEY_FILE or ENCRYPTION_KEYS_DIR is required"},
		{map[string]string{"X_ENCRYPTION_KEY": key}, ""},
		{map[string]string{"X_ENCRYPTION_KEY": key, "X_ENCRYPTION_ACTIVE_KEY": "default"}, ""},
		{map[string]string{"X_ENCRYPTION_KEY": key, "X_ENCRYPTION_ACTIVE_KEY": "2027-01"}, "ENCRYPTION_ACTIVE_KEY"},
		{map[string]string{"X_ENCRYPTION_KEYS_DIR": dir, "X_ENCRYPTION_ACTIVE_KEY": "2027-01"}, ""},
		{map[string]string{"X_ENCRYPTION_KEYS_DIR": dir}, "ENCRYPTION_ACTIVE_KEY"},
		{map[string]string{"X_ENCRYPTION_KEYS_DIR": dir, "X_ENCRYPTION_ACTIVE_KEY": "2027-01", "X_ENCRYPTION_KEY_FILE": "/k"}, "excludes"},
		{map[string]string{"X_ENCRYPTION_KEY": key, "X_ENCRYPTION_REKEY_INTERVAL": "0"}, ""},
		{map[string]string{"X_ENCRYPTION_KEY": key, "X_ENCRYPTION_REKEY_INTERVAL": "5s"}, "ENCRYPTION_REKEY_INTERVAL"},
	} {
		var w withEncryption
		err := LoadFrom("X", &w, lookup(c.env))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: want %q, got %v", c.env, c.want, err)
		}
	}

	var w withEncryption
	if err := LoadFrom("X", &w, lookup(map[string]string{"X_ENCRYPTION_KEYS_DIR": dir, "X_ENCRYPTION_ACTIVE_KEY": "2027-01"})); err != nil {
		t.Fatal(err)
	}
	s, err := w.Sealer()
	if err != nil || s.ActiveKey() != "2027-01" || len(s.KeyIDs()) != 2 || w.EncryptionRekeyInterval != time.Hour {
		t.Fatalf("%v %+v", err, w)
	}
	w.EncryptionActiveKey = "2025-01"
	if _, err := w.Sealer(); err == nil {
		t.Fatal("an active key without a file")
	}
}
