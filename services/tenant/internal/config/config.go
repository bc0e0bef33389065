// Package config is the tenant service's one typed configuration.
package config

import (
	"errors"
	"fmt"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/config"
)

// Prefix of the service's environment variables.
const Prefix = "TENANT"

// Config of the tenant service.
type Config struct {
	ListenAddr        string `env:"LISTEN_ADDR" default:"127.0.0.1:9001" help:"gRPC listen address"`
	DatabaseURL       string `env:"DATABASE_URL" default:"sqlite://./data/tenant.db" help:"database URL: sqlite://path, or postgres://user:password@host:5432/db?search_path=SCHEMA (the schema is created on first start)"`
	EncryptionKey     string `env:"ENCRYPTION_KEY" help:"base64 32-byte key that encrypts secrets at rest (or use ENCRYPTION_KEY_FILE)"`
	EncryptionKeyFile string `env:"ENCRYPTION_KEY_FILE" help:"file holding the encryption key"`
	APSCCAFile        string `env:"APSC_CA_FILE" help:"CA (PEM) that signs the APS controller's server certificate; empty skips verification"`
	MetricsAddr       string `env:"METRICS_ADDR" help:"optional HTTP address serving /metrics"`
	UserAddr          string `env:"USER_ADDR" default:"127.0.0.1:9003" help:"gRPC address of the user/license service (users of a synchronization) (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	config.Microsoft
	config.Jobs
	config.Observability
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if _, err := clouds.Lookup(c.Cloud); err != nil {
		errs = append(errs, fmt.Errorf("CLOUD: %w", err))
	}
	if c.EncryptionKey == "" && c.EncryptionKeyFile == "" {
		errs = append(errs, errors.New("ENCRYPTION_KEY or ENCRYPTION_KEY_FILE is required"))
	}
	errs = append(errs, c.Microsoft.Validate(), c.Jobs.Validate())
	return errors.Join(errs...)
}

// Load reads the configuration from the environment.
func Load() (*Config, error) {
	var c Config
	if err := config.Load(Prefix, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
