package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ParseKey decodes a base64 (standard or URL) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("encryption key must be 32 bytes encoded in base64 (e.g. `openssl rand -base64 32`)")
}

// LoadKey reads the key from a value or, if empty, from a file.
func LoadKey(value, file string) ([]byte, error) {
	if value == "" && file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read encryption key file: %w", err)
		}
		value = string(b)
	}
	if value == "" {
		return nil, errors.New("no encryption key configured")
	}
	return ParseKey(value)
}

// ReadKeyDir reads a directory of key files, as a mounted Kubernetes Secret
// or a CSI secret-store volume presents them: each file's name is a key id
// (ValidKeyID), its content a base64 32-byte key. Names beginning with a dot
// (a volume's own bookkeeping, such as Kubernetes' ..data) and directories
// are skipped; symbolic links are followed.
func ReadKeyDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read encryption key directory: %w", err)
	}
	keys := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("encryption key file %s: %w", name, err)
		}
		if info.IsDir() {
			continue
		}
		if !ValidKeyID(name) {
			return nil, fmt.Errorf("encryption key file %q: its name is not a key id (1 to %d letters, digits, '.', '_' or '-', beginning with a letter or a digit)", name, maxKeyID)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("encryption key file %s: %w", name, err)
		}
		if keys[name], err = ParseKey(string(b)); err != nil {
			return nil, fmt.Errorf("encryption key file %s: %w", name, err)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no encryption key file in %s", dir)
	}
	return keys, nil
}

// Load builds the sealer a service is configured with: the keys of dir with
// the active one's id when dir is set, else the one key of value or file
// (LoadKey) under DefaultKeyID.
func Load(value, file, dir, active string) (*Sealer, error) {
	if dir == "" {
		key, err := LoadKey(value, file)
		if err != nil {
			return nil, err
		}
		return NewSealer(key)
	}
	keys, err := ReadKeyDir(dir)
	if err != nil {
		return nil, err
	}
	return NewKeyring(keys, active)
}
