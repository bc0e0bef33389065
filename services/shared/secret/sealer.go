package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// DefaultKeyID is the id of a key given alone (*_ENCRYPTION_KEY or
// *_ENCRYPTION_KEY_FILE). A key directory that takes over from such a key
// holds it in a file of that name.
const DefaultKeyID = "default"

const (
	legacyPrefix = "v1:" // the first format: one key, no key id, no place
	prefix       = "v2." // v2.<key id>.<payload>
	maxKeyID     = 64
)

// Prefixes are how sealed values of every format begin: a store finds the
// rows that may hold sealed values by them.
func Prefixes() []string { return []string{legacyPrefix, prefix} }

// Errors of Open, for errors.Is. Their messages name the place and the key
// id, never the value.
var (
	// ErrUnknownKey: the value was sealed under a key the keyring lacks.
	ErrUnknownKey = errors.New("the key that sealed it is not configured")
	// ErrNotOpened: the key is there but the value does not open with it:
	// it was sealed for another place, or altered.
	ErrNotOpened = errors.New("it does not open: sealed for another place, or altered")
)

// Place names where a sealed value is stored: the service, the table, the
// row's key and the column, e.g. "tenant/instances/<instance id>/client_secret".
// A value is sealed for one place (the AES-GCM associated data) and opens
// only there.
type Place string

// At builds a place from its parts, each escaped so that different lists of
// parts never give the same place.
func At(parts ...string) Place {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = url.PathEscape(p)
	}
	return Place(strings.Join(esc, "/"))
}

// Field is a sealed value as a row holds it, with its place (Reseal).
type Field struct {
	Value *string
	At    Place
}

// Sealer encrypts and decrypts secrets with AES-256-GCM under a keyring:
// the active key seals, every key opens what it sealed.
type Sealer struct {
	active string
	keys   map[string]cipher.AEAD
	ids    []string // the active key first, then the others by id
}

// ValidKeyID tells whether id can name a key: 1 to 64 letters, digits,
// '.', '_' or '-', beginning with a letter or a digit (so that a key file's
// name is its id, and hidden files are no keys).
func ValidKeyID(id string) bool {
	if id == "" || len(id) > maxKeyID {
		return false
	}
	for i, c := range id {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// NewKeyring takes 32-byte keys by id and the id of the one that seals.
func NewKeyring(keys map[string][]byte, active string) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key configured")
	}
	s := &Sealer{active: active, keys: map[string]cipher.AEAD{}}
	for id, key := range keys {
		if !ValidKeyID(id) {
			return nil, fmt.Errorf("%q is not a key id: 1 to %d letters, digits, '.', '_' or '-', beginning with a letter or a digit", id, maxKeyID)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("encryption key %s must be 32 bytes, got %d", id, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.keys[id] = aead
		s.ids = append(s.ids, id)
	}
	slices.Sort(s.ids)
	i := slices.Index(s.ids, active)
	if i < 0 {
		return nil, fmt.Errorf("the active encryption key %q is not one of the keys (%s)", active, strings.Join(s.ids, ", "))
	}
	s.ids = append(append([]string{active}, s.ids[:i]...), s.ids[i+1:]...)
	return s, nil
}

// NewSealer takes one 32-byte key, whose id is DefaultKeyID.
func NewSealer(key []byte) (*Sealer, error) {
	return NewKeyring(map[string][]byte{DefaultKeyID: key}, DefaultKeyID)
}

// ActiveKey is the id of the key that seals.
func (s *Sealer) ActiveKey() string { return s.active }

// KeyIDs are the ids of every key, the active one first.
func (s *Sealer) KeyIDs() []string { return slices.Clone(s.ids) }

// Seal encrypts a value under the active key for the place that will store
// it; the empty string stays empty.
func (s *Sealer) Seal(v String, at Place) (string, error) {
	if v.Empty() {
		return "", nil
	}
	if at == "" {
		return "", errors.New("secret: a value is sealed for a place, and none was given")
	}
	aead := s.keys[s.active]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(v.Reveal()), []byte(at))
	return prefix + s.active + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// split parses a value of the current format.
func split(sealed string) (keyID, payload string, ok bool) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 0 || !ValidKeyID(rest[:i]) {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// Open decrypts a value that Seal sealed for the place at. A value of the
// first format carries no place: it opens under whichever key authenticates
// it.
func (s *Sealer) Open(sealed string, at Place) (String, error) {
	if sealed == "" {
		return String{}, nil
	}
	if strings.HasPrefix(sealed, legacyPrefix) {
		return s.openLegacy(sealed, at)
	}
	id, payload, ok := split(sealed)
	if !ok {
		return String{}, fmt.Errorf("sealed value at %s has an unknown format", at)
	}
	aead := s.keys[id]
	if aead == nil {
		return String{}, fmt.Errorf("sealed value at %s is under key %q (configured: %s): %w", at, id, strings.Join(s.ids, ", "), ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	n := aead.NonceSize()
	if err != nil || len(raw) < n+aead.Overhead() {
		return String{}, fmt.Errorf("sealed value at %s is corrupt", at)
	}
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(at))
	if err != nil {
		return String{}, fmt.Errorf("sealed value at %s, under key %q: %w", at, id, ErrNotOpened)
	}
	return New(string(plain)), nil
}

func (s *Sealer) openLegacy(sealed string, at Place) (String, error) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, legacyPrefix))
	if err != nil || len(raw) < 12+16 {
		return String{}, fmt.Errorf("sealed value at %s (first format) is corrupt", at)
	}
	for _, id := range s.ids {
		aead := s.keys[id]
		n := aead.NonceSize()
		if plain, err := aead.Open(nil, raw[:n], raw[n:], nil); err == nil {
			return New(string(plain)), nil
		}
	}
	return String{}, fmt.Errorf("sealed value at %s (first format, no key id) opens under none of the configured keys (%s)", at, strings.Join(s.ids, ", "))
}

// Stale tells whether a sealed value is to be sealed again: it is of the
// first format, or under another key than the active one. The empty value
// is not.
func (s *Sealer) Stale(sealed string) bool {
	if sealed == "" {
		return false
	}
	id, _, ok := split(sealed)
	return !ok || id != s.active
}

// AnyStale tells whether one of the fields is stale.
func (s *Sealer) AnyStale(fields ...Field) bool {
	return slices.ContainsFunc(fields, func(f Field) bool { return s.Stale(*f.Value) })
}

// Reseal seals every stale field again, under the active key and for its
// place, and returns how many it changed. On an error none is changed.
func (s *Sealer) Reseal(fields ...Field) (int, error) {
	next := make([]string, len(fields))
	changed := 0
	for i, f := range fields {
		next[i] = *f.Value
		if !s.Stale(*f.Value) {
			continue
		}
		v, err := s.Open(*f.Value, f.At)
		if err != nil {
			return 0, err
		}
		if next[i], err = s.Seal(v, f.At); err != nil {
			return 0, err
		}
		changed++
	}
	for i, f := range fields {
		*f.Value = next[i]
	}
	return changed, nil
}
