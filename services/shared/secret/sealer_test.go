package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const plain = "correct horse battery staple"

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func ring(t *testing.T, active string, keys map[string][]byte) *Sealer {
	t.Helper()
	s, err := NewKeyring(keys, active)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacySeal seals as the first format did: one key, no key id, no
// associated data.
func legacySeal(t *testing.T, k []byte, v string) string {
	t.Helper()
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return "v1:" + base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(v), nil))
}

// noLeak fails when an error carries the secret or the sealed payload.
func noLeak(t *testing.T, err error, sealed string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	payload := sealed[strings.LastIndexAny(sealed, ".:")+1:]
	if msg := err.Error(); strings.Contains(msg, plain) || len(payload) > 8 && strings.Contains(msg, payload[:8]) {
		t.Fatalf("the error carries the secret or the sealed value: %s", msg)
	}
}

func TestAnotherPlaceDoesNotOpen(t *testing.T) {
	s := ring(t, "k1", map[string][]byte{"k1": key(1)})
	at := At("tenant", "instances", "i1", "client_secret")
	sealed, err := s.Seal(New(plain), at)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []Place{
		At("tenant", "instances", "i2", "client_secret"), // another row
		At("tenant", "instances", "i1", "refresh_token"), // another column
		At("user", "users", "i1", "u1", "password"),      // another table
	} {
		_, err := s.Open(sealed, other)
		if !errors.Is(err, ErrNotOpened) || !strings.Contains(err.Error(), string(other)) {
			t.Errorf("opened at %s: %v", other, err)
		}
		noLeak(t, err, sealed)
	}
}

func TestTamperedValuesDoNotOpen(t *testing.T) {
	s := ring(t, "k1", map[string][]byte{"k1": key(1), "k2": key(2)})
	at := At("user", "users", "i1", "u1", "password")
	sealed, _ := s.Seal(New(plain), at)
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "v2.k1."))
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return "v2.k1." + base64.RawURLEncoding.EncodeToString(b)
	}
	for name, v := range map[string]string{
		"nonce":         flip(0),
		"ciphertext":    flip(13),
		"tag":           flip(len(raw) - 1),
		"other key id":  "v2.k2." + strings.TrimPrefix(sealed, "v2.k1."),
		"truncated":     sealed[:len(sealed)-10],
		"too short":     "v2.k1.AAAA",
		"not base64":    "v2.k1.!!!!",
		"bad key id":    "v2._k1." + strings.TrimPrefix(sealed, "v2.k1."),
		"no key id":     "v2." + strings.TrimPrefix(sealed, "v2.k1."),
		"unknown":       "v9." + strings.TrimPrefix(sealed, "v2."),
		"legacy, wrong": "v1:" + strings.TrimPrefix(flip(5), "v2.k1."),
	} {
		_, err := s.Open(v, at)
		if err == nil {
			t.Errorf("%s: opened", name)
			continue
		}
		noLeak(t, err, sealed)
	}
}

func TestUnknownKeyIsNamed(t *testing.T) {
	old := ring(t, "2026-01", map[string][]byte{"2026-01": key(1)})
	at := At("tenant", "tenants", "i1", "t1", "op_secret")
	sealed, _ := old.Seal(New(plain), at)
	s := ring(t, "2027-01", map[string][]byte{"2027-01": key(2)})
	_, err := s.Open(sealed, at)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"2026-01"`) || !strings.Contains(err.Error(), "2027-01") ||
		!strings.Contains(err.Error(), string(at)) {
		t.Fatalf("want the unknown key, the configured ones and the place named: %v", err)
	}
	noLeak(t, err, sealed)
	if _, err := s.Reseal(Field{Value: &sealed, At: at}); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("re-sealed a value under an unknown key: %v", err)
	}
}

func TestFirstFormatOpensAndIsStale(t *testing.T) {
	old := legacySeal(t, key(1), plain)
	at := At("tenant", "instances", "i1", "client_secret")
	for name, s := range map[string]*Sealer{
		"the one key":            ring(t, DefaultKeyID, map[string][]byte{DefaultKeyID: key(1)}),
		"a key of a keyring":     ring(t, "new", map[string][]byte{"new": key(2), "old": key(1)}),
		"the active key of many": ring(t, "old", map[string][]byte{"new": key(2), "old": key(1)}),
	} {
		got, err := s.Open(old, at)
		if err != nil || got.Reveal() != plain {
			t.Fatalf("%s: %v", name, err)
		}
		if !s.Stale(old) {
			t.Fatalf("%s: a value of the first format is not stale", name)
		}
	}
	s := ring(t, "new", map[string][]byte{"new": key(2)})
	_, err := s.Open(old, at)
	if err == nil || !strings.Contains(err.Error(), "first format") {
		t.Fatalf("opened without its key: %v", err)
	}
	noLeak(t, err, old)
}

func TestRotation(t *testing.T) {
	at := At("user", "users", "i1", "u1", "password")
	other := At("user", "users", "i1", "u1", "op_secret")
	before := ring(t, "old", map[string][]byte{"old": key(1)})
	a, _ := before.Seal(New(plain), at)
	b := legacySeal(t, key(1), "second")
	var none string

	// Both keys in every replica, the new one active: everything opens,
	// what the old key sealed is stale.
	during := ring(t, "new", map[string][]byte{"old": key(1), "new": key(2)})
	if got := during.KeyIDs(); strings.Join(got, ",") != "new,old" || during.ActiveKey() != "new" {
		t.Fatalf("key ids %v, active %s", got, during.ActiveKey())
	}
	if v, err := during.Open(a, at); err != nil || v.Reveal() != plain {
		t.Fatal(err)
	}
	fields := []Field{{Value: &a, At: at}, {Value: &b, At: other}, {Value: &none, At: at}}
	if !during.AnyStale(fields...) {
		t.Fatal("nothing stale")
	}
	n, err := during.Reseal(fields...)
	if err != nil || n != 2 || none != "" || !strings.HasPrefix(a, "v2.new.") || !strings.HasPrefix(b, "v2.new.") {
		t.Fatalf("re-sealed %d: %v (%s, %s)", n, err, a, b)
	}
	if during.AnyStale(fields...) {
		t.Fatal("still stale after re-sealing")
	}
	if n, err := during.Reseal(fields...); n != 0 || err != nil {
		t.Fatalf("a second pass re-sealed %d: %v", n, err)
	}

	// The old key removed: everything still opens at its place.
	after := ring(t, "new", map[string][]byte{"new": key(2)})
	if v, err := after.Open(a, at); err != nil || v.Reveal() != plain {
		t.Fatal(err)
	}
	if v, err := after.Open(b, other); err != nil || v.Reveal() != "second" {
		t.Fatal(err)
	}

	// A failing field leaves every field as it was.
	c := "v2.gone.AAAA"
	keep := a
	if _, err := after.Reseal(Field{Value: &a, At: at}, Field{Value: &c, At: at}); err == nil || a != keep {
		t.Fatalf("partial re-seal: %v", err)
	}
}

func TestKeyrings(t *testing.T) {
	for _, bad := range []struct {
		keys   map[string][]byte
		active string
	}{
		{nil, "a"},
		{map[string][]byte{"a": key(1)}, "b"},
		{map[string][]byte{"a": key(1)[:16]}, "a"},
		{map[string][]byte{".a": key(1)}, ".a"},
		{map[string][]byte{"a/b": key(1)}, "a/b"},
	} {
		if _, err := NewKeyring(bad.keys, bad.active); err == nil {
			t.Errorf("accepted %v active %q", bad.keys, bad.active)
		}
	}
	for id, ok := range map[string]bool{"default": true, "2026-01": true, "encryption.key": true, "k_1": true,
		"": false, ".hidden": false, "-x": false, "a b": false, "a/b": false, strings.Repeat("k", 65): false} {
		if ValidKeyID(id) != ok {
			t.Errorf("ValidKeyID(%q) = %v", id, !ok)
		}
	}
	// A key id with dots still parses: the payload has none.
	s := ring(t, "encryption.key", map[string][]byte{"encryption.key": key(1)})
	at := At("x", "y")
	sealed, _ := s.Seal(New(plain), at)
	if v, err := s.Open(sealed, at); err != nil || v.Reveal() != plain || s.Stale(sealed) {
		t.Fatalf("%v", err)
	}
}

func TestPlacesAreUnambiguous(t *testing.T) {
	if At("a/b", "c") == At("a", "b/c") || At("a%2Fb", "c") == At("a/b", "c") {
		t.Fatal("two lists of parts give one place")
	}
	if got := At("tenant", "instances", "3f0c", "client_secret"); got != "tenant/instances/3f0c/client_secret" {
		t.Fatalf("got %s", got)
	}
}
