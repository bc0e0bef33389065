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
	ListenAddr         string        `env:"LISTEN_ADDR" default:"127.0.0.1:9001" help:"gRPC listen address"`
	DatabaseURL        string        `env:"DATABASE_URL" default:"sqlite://./data/tenant.db" help:"database URL (sqlite://path)"`
	Cloud              string        `env:"CLOUD" default:"global" help:"the one Microsoft cloud this deployment serves: global, china or usgov"`
	EncryptionKey      string        `env:"ENCRYPTION_KEY" help:"base64 32-byte key that encrypts secrets at rest (or use ENCRYPTION_KEY_FILE)"`
	EncryptionKeyFile  string        `env:"ENCRYPTION_KEY_FILE" help:"file holding the encryption key"`
	MSLoginURL         string        `env:"MS_LOGIN_URL" help:"override of the cloud's Entra authority host (the simulator)"`
	MSPartnerCenterURL string        `env:"MS_PARTNER_CENTER_URL" help:"override of the cloud's Partner Center base URL"`
	MSGraphURL         string        `env:"MS_GRAPH_URL" help:"override of the cloud's Graph base URL (with /v1.0)"`
	MSCAFile           string        `env:"MS_CA_FILE" help:"extra CA certificate (PEM) trusted for Microsoft calls (the simulator's)"`
	MSTimeout          time.Duration `env:"MS_TIMEOUT" default:"60s" help:"timeout of one Microsoft HTTP attempt"`
	MSMaxRetryDelay    time.Duration `env:"MS_MAX_RETRY_DELAY" default:"30s" help:"longest Retry-After waited in process; longer ones reschedule the job"`
	APSCCAFile         string        `env:"APSC_CA_FILE" help:"CA (PEM) that signs the APS controller's server certificate; empty skips verification"`
	JobWorkers         int           `env:"JOB_WORKERS" default:"4" help:"concurrent job workers"`
	JobPoll            time.Duration `env:"JOB_POLL" default:"500ms" help:"job queue poll interval"`
	JobLease           time.Duration `env:"JOB_LEASE" default:"30s" help:"job lease; a job whose worker died runs again after it"`
	WorkerID           string        `env:"WORKER_ID" help:"stable identity of this replica's workers (default: host name)"`
	LogLevel           string        `env:"LOG_LEVEL" default:"info" help:"debug, info, warn or error"`
	Traces             string        `env:"TRACES" default:"none" help:"trace exporter: none, otlp (OTEL_EXPORTER_OTLP_*), or file:/path"`
	MetricsAddr        string        `env:"METRICS_ADDR" help:"optional HTTP address serving /metrics"`
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
	if c.JobWorkers < 1 {
		errs = append(errs, errors.New("JOB_WORKERS must be at least 1"))
	}
	if c.JobLease < 3*time.Second {
		errs = append(errs, errors.New("JOB_LEASE must be at least 3s"))
	}
	if c.JobPoll <= 0 {
		errs = append(errs, errors.New("JOB_POLL must be positive"))
	}
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
