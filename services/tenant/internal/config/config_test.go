package config

import (
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/config"
)

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
