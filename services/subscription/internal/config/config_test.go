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
		if !strings.Contains(string(readme), "| `"+k.Env+"` |") {
			t.Errorf("README.md lacks a row for %s; expected:\n%s", k.Env, config.Markdown([]config.Key{k}))
		}
	}
}
