package secret

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKey(t *testing.T, path string, b byte) {
	t.Helper()
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key(b))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyDir lays keys out as a Kubernetes Secret volume does: the files are
// symbolic links into a hidden, timestamped directory.
func keyDir(t *testing.T, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_01_01_00_00_00.1")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		writeKey(t, filepath.Join(data, id), byte(i+1))
		if err := os.Symlink(filepath.Join("..data", id), filepath.Join(dir, id)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadKeyDir(t *testing.T) {
	dir := keyDir(t, "2026-01", "2027-01")
	keys, err := ReadKeyDir(dir)
	if err != nil || len(keys) != 2 || keys["2026-01"][0] != 1 || keys["2027-01"][0] != 2 {
		t.Fatalf("%v %v", keys, err)
	}
	s, err := Load("", "", dir, "2027-01")
	if err != nil || s.ActiveKey() != "2027-01" || strings.Join(s.KeyIDs(), ",") != "2027-01,2026-01" {
		t.Fatalf("%v", err)
	}
	if _, err := Load("", "", dir, "2025-01"); err == nil || !strings.Contains(err.Error(), "2025-01") {
		t.Fatalf("an absent active key: %v", err)
	}
	if _, err := ReadKeyDir(t.TempDir()); err == nil {
		t.Fatal("an empty directory gave a keyring")
	}
	if _, err := ReadKeyDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory gave a keyring")
	}
}

func TestReadKeyDirRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, filepath.Join(dir, "ok"), 1)
	if err := os.WriteFile(filepath.Join(dir, "bad"), []byte("not-a-key-but-a-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadKeyDir(dir)
	if err == nil || !strings.Contains(err.Error(), "bad") || strings.Contains(err.Error(), "not-a-key-but-a-secret") {
		t.Fatalf("want the file named, not its content: %v", err)
	}
	dir = t.TempDir()
	writeKey(t, filepath.Join(dir, "key one"), 1)
	if _, err := ReadKeyDir(dir); err == nil || !strings.Contains(err.Error(), "key one") {
		t.Fatalf("a file name that is no key id: %v", err)
	}
}

func TestLoadOneKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "encryption.key")
	writeKey(t, file, 1)
	for _, s := range []struct{ value, file string }{{"", file}, {base64.StdEncoding.EncodeToString(key(1)), ""}} {
		sealer, err := Load(s.value, s.file, "", "")
		if err != nil || sealer.ActiveKey() != DefaultKeyID {
			t.Fatalf("%v", err)
		}
	}
	if _, err := Load("", "", "", ""); err == nil {
		t.Fatal("no key gave a sealer")
	}
	// What the key alone sealed opens from a directory holding it as "default".
	one, _ := Load("", file, "", "")
	at := At("a", "b")
	sealed, _ := one.Seal(New(plain), at)
	dir := t.TempDir()
	writeKey(t, filepath.Join(dir, DefaultKeyID), 1)
	writeKey(t, filepath.Join(dir, "next"), 2)
	ring, err := Load("", "", dir, "next")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ring.Open(sealed, at); err != nil || v.Reveal() != plain || !ring.Stale(sealed) {
		t.Fatalf("%v", err)
	}
}
