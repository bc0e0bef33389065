// Package config is the tenant service's one typed configuration.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/config"
)

// Prefix of the service's environment variables.
const Prefix = "TENANT"

// Config of the tenant service.
type Config struct {
	ListenAddr             string        `env:"LISTEN_ADDR" default:"127.0.0.1:9001" help:"gRPC listen address"`
	DatabaseURL            string        `env:"DATABASE_URL" default:"sqlite://./data/tenant.db" help:"database URL: sqlite://path, or postgres://user:password@host:5432/db?search_path=SCHEMA (the schema is created on first start)"`
	APSCCAFile             string        `env:"APSC_CA_FILE" help:"CA (PEM) that signs the APS controllers' server certificates, verified on every call back into a controller"`
	APSCInsecureSkipVerify bool          `env:"APSC_INSECURE_SKIP_VERIFY" help:"call back into controllers without verifying their server certificates (development only; logged as a warning)"`
	HealthInterval         time.Duration `env:"HEALTH_INTERVAL" default:"6h" help:"how often every instance's credentials and every tenant's consent and GDAP relationship are checked (and refresh tokens redeemed to keep them alive); 0 turns the periodic check off"`
	HealthWarning          time.Duration `env:"HEALTH_WARNING" default:"720h" help:"how long before a credential or relationship ends its health turns expiring"`
	DriftInterval          time.Duration `env:"DRIFT_INTERVAL" default:"24h" help:"how old a tenant's drift report may get before the periodic check checks the tenant again; 0 turns the periodic check off"`
	DriftCallsPerSecond    float64       `env:"DRIFT_CALLS_PER_SECOND" default:"2" help:"the share of Microsoft's rate limits the periodic drift and health checks may use, each: calls per second per partner (about four a tenant), shared by the replicas"`
	SubscriptionAddr       string        `env:"SUBSCRIPTION_ADDR" default:"127.0.0.1:9002" help:"gRPC address of the subscription service (drift of a tenant's subscriptions) (one address, comma-separated replicas, or dns:///host:port)"`
	UserAddr               string        `env:"USER_ADDR" default:"127.0.0.1:9003" help:"gRPC address of the user/license service (users of a synchronization) (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
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
	if (c.APSCCAFile == "") == !c.APSCInsecureSkipVerify {
		errs = append(errs, errors.New("set APSC_CA_FILE (the CA of the controllers' server certificates), or APSC_INSECURE_SKIP_VERIFY=true for development"))
	}
	if c.DriftInterval < 0 || c.DriftCallsPerSecond <= 0 && c.DriftInterval > 0 {
		errs = append(errs, errors.New("DRIFT_INTERVAL must not be negative, and DRIFT_CALLS_PER_SECOND positive while it is on"))
	}
	if c.HealthInterval < 0 || c.HealthWarning < 0 {
		errs = append(errs, errors.New("HEALTH_INTERVAL and HEALTH_WARNING must not be negative"))
	}
	if c.HealthInterval > 0 && c.HealthInterval > 30*24*time.Hour {
		errs = append(errs, errors.New("HEALTH_INTERVAL must be at most 720h: the check keeps 90-day refresh tokens alive"))
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
