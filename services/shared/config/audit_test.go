package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditSettings(t *testing.T) {
	if err := (Audit{AuditHeadInterval: time.Minute}).Validate(); err == nil || !strings.Contains(err.Error(), "AUDIT_KEY_FILE") {
		t.Fatalf("a missing key file accepted: %v", err)
	}
	if err := (Audit{AuditKeyFile: "k", AuditHeadInterval: time.Millisecond}).Validate(); err == nil || !strings.Contains(err.Error(), "AUDIT_HEAD_INTERVAL") {
		t.Fatalf("a millisecond interval accepted: %v", err)
	}
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Audit{AuditKeyFile: short}).Key(); err == nil || !strings.Contains(err.Error(), "32 bytes") || strings.Contains(err.Error(), "MDEy") {
		t.Fatalf("a short key: %v", err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := (Audit{AuditKeyFile: good}).Key()
	if err != nil || len(k.ID) != 16 {
		t.Fatalf("key %v, %v", k, err)
	}
}
