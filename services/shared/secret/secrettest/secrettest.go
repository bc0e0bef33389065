// Package secrettest helps the services' tests of a key rotation.
package secrettest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/o365gateway/gateway/services/shared/secret"
)

// Rotation is a key rotation in progress: the old key (the single key of a
// deployment, id secret.DefaultKeyID) and the new one, and the sealers
// before (old key only), during (both, the new one active) and after it
// (the new key only).
type Rotation struct {
	OldKey, NewKey        []byte
	Before, During, After *secret.Sealer
}

// NewRotation returns a rotation to the key id "2027-01".
func NewRotation(t *testing.T) Rotation {
	t.Helper()
	r := Rotation{OldKey: bytes.Repeat([]byte{1}, 32), NewKey: bytes.Repeat([]byte{2}, 32)}
	var err error
	if r.Before, err = secret.NewSealer(r.OldKey); err != nil {
		t.Fatal(err)
	}
	if r.During, err = secret.NewKeyring(map[string][]byte{secret.DefaultKeyID: r.OldKey, "2027-01": r.NewKey}, "2027-01"); err != nil {
		t.Fatal(err)
	}
	if r.After, err = secret.NewKeyring(map[string][]byte{"2027-01": r.NewKey}, "2027-01"); err != nil {
		t.Fatal(err)
	}
	return r
}

// SealV1 seals v as releases before key ids did: one key, no key id, no
// place.
func SealV1(t *testing.T, key []byte, v string) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return "v1:" + base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(v), nil))
}
