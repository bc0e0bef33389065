// Package config is the subscription service's one typed configuration.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/config"
)

// Prefix of the service's environment variables.
const Prefix = "SUBSCRIPTION"

// Config of the subscription service.
type Config struct {
	ListenAddr  string        `env:"LISTEN_ADDR" default:"127.0.0.1:9002" help:"gRPC listen address"`
	DatabaseURL string        `env:"DATABASE_URL" default:"sqlite://./data/subscription.db" help:"database URL: sqlite://path, or postgres://user:password@host:5432/db?search_path=SCHEMA (the schema is created on first start)"`
	TenantAddr  string        `env:"TENANT_ADDR" default:"127.0.0.1:9001" help:"gRPC address of the tenant service (instances, customers) (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	CatalogTTL  time.Duration `env:"CATALOG_TTL" default:"1h" help:"how long an instance's catalog of a country is cached"`
	UsageTTL    time.Duration `env:"USAGE_TTL" default:"30s" help:"how long a customer's seat usage (subscribed SKUs) is cached"`
	config.Microsoft
	config.Jobs
	config.Mesh
	config.Server
	config.Audit
	config.Observability
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if _, err := clouds.Lookup(c.Cloud); err != nil {
		errs = append(errs, fmt.Errorf("CLOUD: %w", err))
	}
	if c.TenantAddr == "" {
		errs = append(errs, errors.New("TENANT_ADDR is required"))
	}
	errs = append(errs, c.Microsoft.Validate(), c.Jobs.Validate(), c.Mesh.Validate(), c.Audit.Validate(), c.Observability.Validate())
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
