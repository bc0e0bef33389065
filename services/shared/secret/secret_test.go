package secret

import (
	"bytes"
	"encoding/json"
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
	k1 := bytes.Repeat([]byte{1}, 32)
	s1, _ := NewSealer(k1)
	sealed, err := s1.Seal(New("client-secret"))
	if err != nil || strings.Contains(sealed, "client-secret") {
		t.Fatalf("%v %s", err, sealed)
	}
	got, err := s1.Open(sealed)
	if err != nil || got.Reveal() != "client-secret" {
		t.Fatalf("%v", err)
	}
	s2, _ := NewSealer(bytes.Repeat([]byte{2}, 32))
	if _, err := s2.Open(sealed); err == nil {
		t.Fatal("opened with the wrong key")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := ParseKey("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="); err != nil {
		t.Fatal(err)
	}
}
