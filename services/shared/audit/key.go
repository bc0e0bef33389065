package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// MinKeySize is the shortest key accepted, in bytes.
const MinKeySize = 32

// Key is a MAC key of audit entries. Its ID is derived from the key (a
// MAC of a fixed label), so a new key file gets a new id without any
// setting, and an entry names the key it needs without revealing it. A Key
// never prints its bytes.
type Key struct {
	ID     string
	secret []byte
}

// keyIDLabel is what a key's id is the MAC of.
const keyIDLabel = "o365gw-audit-key-id"

// NewKey makes a key of raw bytes (at least MinKeySize).
func NewKey(raw []byte) (*Key, error) {
	if len(raw) < MinKeySize {
		return nil, fmt.Errorf("an audit key must have at least %d bytes, got %d", MinKeySize, len(raw))
	}
	k := &Key{secret: append([]byte(nil), raw...)}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(keyIDLabel))
	k.ID = hex.EncodeToString(m.Sum(nil))[:16]
	return k, nil
}

// ParseKey decodes a key written in base64 (standard or URL alphabet,
// padded or not), e.g. by `openssl rand -base64 32`.
func ParseKey(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(text); err == nil {
			return NewKey(raw)
		}
	}
	return nil, errors.New("an audit key must be base64 (e.g. `openssl rand -base64 32`)")
}

// LoadKeyFile reads a key file. Errors name the file, never its content.
func LoadKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("audit key file %s: %w", path, err)
	}
	return k, nil
}

// Seal returns the MAC of e (hex) under k.
func (k *Key) Seal(e *Entry) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write(e.Canonical())
	return hex.EncodeToString(m.Sum(nil))
}

// Check tells whether e's MAC is the one k gives it.
func (k *Key) Check(e *Entry) bool {
	want, err := hex.DecodeString(e.MAC)
	if err != nil {
		return false
	}
	got, _ := hex.DecodeString(k.Seal(e))
	return hmac.Equal(got, want)
}

// String names the key by its id only.
func (k Key) String() string { return "audit key " + k.ID }

// GoString is String (%#v must not print the key either).
func (k Key) GoString() string { return k.String() }

// LogValue is the key's id.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.ID) }

// Keyring holds the keys a verification may need, by id.
type Keyring map[string]*Key

// NewKeyring collects keys.
func NewKeyring(keys ...*Key) Keyring {
	r := Keyring{}
	for _, k := range keys {
		r[k.ID] = k
	}
	return r
}
