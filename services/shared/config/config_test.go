package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Addr    string        `env:"ADDR" default:"127.0.0.1:1" help:"listen address"`
	Retry   time.Duration `env:"RETRY" default:"30s" help:"retry"`
	Workers int           `env:"WORKERS" default:"4" help:"workers"`
	Debug   bool          `env:"DEBUG" help:"debug"`
	Hosts   []string      `env:"HOSTS" default:"a,b" help:"hosts"`
	Nested  struct {
		Key string `env:"KEY" help:"nested"`
	}
}

func (s *sample) Validate() error {
	if s.Workers < 1 {
		return errors.New("WORKERS must be at least 1")
	}
	return nil
}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAndOverrides(t *testing.T) {
	var s sample
	if err := LoadFrom("X", &s, lookup(map[string]string{"X_RETRY": "2s", "X_DEBUG": "true", "X_KEY": "k", "X_HOSTS": " c , d "})); err != nil {
		t.Fatal(err)
	}
	if s.Addr != "127.0.0.1:1" || s.Retry != 2*time.Second || s.Workers != 4 || !s.Debug || s.Nested.Key != "k" || strings.Join(s.Hosts, "|") != "c|d" {
		t.Fatalf("got %+v", s)
	}
}

func TestBadValuesAreRefusedWithTheVariableName(t *testing.T) {
	var s sample
	err := LoadFrom("X", &s, lookup(map[string]string{"X_RETRY": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "X_RETRY") {
		t.Fatalf("got %v", err)
	}
	err = LoadFrom("X", &s, lookup(map[string]string{"X_WORKERS": "0"}))
	if err == nil || !strings.Contains(err.Error(), "WORKERS") {
		t.Fatalf("validation not run: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	keys := Describe("X", sample{})
	if len(keys) != 6 || keys[0].Env != "X_ADDR" || keys[5].Env != "X_KEY" {
		t.Fatalf("got %+v", keys)
	}
	if !strings.Contains(Markdown(keys), "| `X_RETRY` | `30s` | retry |") {
		t.Fatal(Markdown(keys))
	}
}

// The rate budgets default to Microsoft's published limits and refuse
// what cannot be a rate.
func TestMicrosoftRateDefaults(t *testing.T) {
	var m Microsoft
	if err := LoadFrom("X", &m, lookup(map[string]string{})); err != nil {
		t.Fatal(err)
	}
	if m.GraphWritesPerSecond != 20 || m.GraphWriteBurst != 3000 || m.PartnerCenterPerSecond != 10 || m.PartnerCenterBurst != 600 {
		t.Fatalf("defaults %+v", m)
	}
	if m.GraphWritesPerSecond*150 != m.GraphWriteBurst {
		t.Fatal("the Graph write budget is not Graph's window of 3,000 per 150 s")
	}
	for _, bad := range []map[string]string{{"X_GRAPH_WRITE_BURST": "-1"}, {"X_PARTNER_CENTER_PER_SECOND": "2e6"}} {
		if err := LoadFrom("X", &m, lookup(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
