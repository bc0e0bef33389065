// Package secret keeps secrets out of logs and encrypts them at rest.
//
// String wraps a secret value so that printing, logging (slog) or JSON-encoding
// it shows "[REDACTED]"; only Reveal returns the value. Sealer encrypts values
// with AES-256-GCM under a key from configuration before they are stored.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

const redacted = "[REDACTED]"

// String is a secret value that never prints itself.
type String struct{ v string }

// New wraps a secret.
func New(v string) String { return String{v: v} }

// Reveal returns the secret value.
func (s String) Reveal() string { return s.v }

// Empty tells whether no secret is held.
func (s String) Empty() bool { return s.v == "" }

// String implements fmt.Stringer with a redacted value.
func (s String) String() string { return redacted }

// GoString implements fmt.GoStringer with a redacted value.
func (s String) GoString() string { return redacted }

// LogValue implements slog.LogValuer with a redacted value.
func (s String) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes a redacted value.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Sealer encrypts and decrypts secrets with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

const sealPrefix = "v1:"

// NewSealer takes a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

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

// Seal encrypts a value; the empty string stays empty.
func (s *Sealer) Seal(v String) (string, error) {
	if v.Empty() {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(v.Reveal()), nil)
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value produced by Seal.
func (s *Sealer) Open(sealed string) (String, error) {
	if sealed == "" {
		return String{}, nil
	}
	if !strings.HasPrefix(sealed, sealPrefix) {
		return String{}, errors.New("sealed value has an unknown format")
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if err != nil || len(raw) < s.aead.NonceSize() {
		return String{}, errors.New("sealed value is corrupt")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return String{}, errors.New("sealed value cannot be decrypted with the configured key")
	}
	return New(string(plain)), nil
}
