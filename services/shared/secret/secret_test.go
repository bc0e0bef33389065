package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStringNeverPrints(t *testing.T) {
	s := New("hunter2")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s, "struct", struct{ S String }{s})
	b, _ := json.Marshal(map[string]any{"s": s})
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", s, s, s, s) + string(b)
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("reveal")
	}
}

func TestSealRoundTripAndWrongKey(t *testing.T) {
	s1, _ := NewSealer(bytes.Repeat([]byte{1}, 32))
	at := At("tenant", "instances", "i1", "client_secret")
	sealed, err := s1.Seal(New("client-secret"), at)
	if err != nil || strings.Contains(sealed, "client-secret") || !strings.HasPrefix(sealed, "v2.default.") {
		t.Fatalf("%v %s", err, sealed)
	}
	got, err := s1.Open(sealed, at)
	if err != nil || got.Reveal() != "client-secret" {
		t.Fatalf("%v", err)
	}
	// Another key under the same id: the value does not open.
	s2, _ := NewSealer(bytes.Repeat([]byte{2}, 32))
	if _, err := s2.Open(sealed, at); !errors.Is(err, ErrNotOpened) {
		t.Fatalf("opened with the wrong key: %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := ParseKey("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="); err != nil {
		t.Fatal(err)
	}
	if empty, err := s1.Seal(String{}, at); err != nil || empty != "" {
		t.Fatalf("the empty secret sealed to %q, %v", empty, err)
	}
	if _, err := s1.Seal(New("x"), ""); err == nil {
		t.Fatal("sealed for no place")
	}
}
