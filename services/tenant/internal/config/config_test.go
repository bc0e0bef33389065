package config

import (
	"os"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/config"
)

// TestREADMEDocumentsEveryKey keeps the README's configuration table true.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.Describe(Prefix, Config{}) {
		row := "| `" + k.Env + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks a row for %s; expected:\n%s", k.Env, config.Markdown([]config.Key{k}))
		}
	}
}

func TestDefaultsNeedOnlyAKey(t *testing.T) {
	var c Config
	err := config.LoadFrom(Prefix, &c, func(k string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEY") {
		t.Fatalf("want a missing-key error, got %v", err)
	}
	err = config.LoadFrom(Prefix, &c, func(k string) (string, bool) {
		if k == "TENANT_ENCRYPTION_KEY" {
			return "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", true
		}
		if k == "TENANT_CLOUD" {
			return "germany", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "CLOUD") {
		t.Fatalf("closed cloud accepted: %v", err)
	}
}
