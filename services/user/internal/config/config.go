// Package config is the user/license service's one typed configuration.
package config

import (
	"errors"
	"fmt"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/config"
)

// Prefix of the service's environment variables.
const Prefix = "USER"

// Config of the user/license service.
type Config struct {
	ListenAddr       string `env:"LISTEN_ADDR" default:"127.0.0.1:9003" help:"gRPC listen address"`
	DatabaseURL      string `env:"DATABASE_URL" default:"sqlite://./data/user.db" help:"database URL: sqlite://path, or postgres://user:password@host:5432/db?search_path=SCHEMA (the schema is created on first start)"`
	TenantAddr       string `env:"TENANT_ADDR" default:"127.0.0.1:9001" help:"gRPC address of the tenant service (instances, customers) (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	SubscriptionAddr string `env:"SUBSCRIPTION_ADDR" default:"127.0.0.1:9002" help:"gRPC address of the subscription service (license SKUs of subscriptions) (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	config.Encryption
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
	errs = append(errs, c.Encryption.Validate())
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
