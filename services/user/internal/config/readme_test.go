package config

import (
	"os"
	"testing"

	"github.com/o365gateway/gateway/services/shared/config"
)

// TestREADMEDocumentsEveryKey keeps the README's configuration table true.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if missing := config.Undocumented(string(readme), Prefix, Config{}); len(missing) > 0 {
		t.Errorf("README.md lacks rows for:\n%s", config.Markdown(missing))
	}
}
