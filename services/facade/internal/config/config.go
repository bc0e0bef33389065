// Package config is the facade's one typed configuration.
package config

import (
	"errors"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/config"
)

// Prefix of the facade's environment variables.
const Prefix = "FACADE"

// Config of the facade.
type Config struct {
	ListenAddr       string        `env:"LISTEN_ADDR" default:"127.0.0.1:8443" help:"HTTPS listen address of the APS endpoint"`
	BasePath         string        `env:"BASE_PATH" default:"/aps/" help:"base path of the APS services (the endpoint URI is https://host:port/aps/)"`
	TenantAddr       string        `env:"TENANT_ADDR" default:"127.0.0.1:9001" help:"gRPC address of the tenant service (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	SubscriptionAddr string        `env:"SUBSCRIPTION_ADDR" default:"127.0.0.1:9002" help:"gRPC address of the subscription service (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	UserAddr         string        `env:"USER_ADDR" default:"127.0.0.1:9003" help:"gRPC address of the user/license service (one address, comma-separated replicas, or dns:///host:port; calls are spread round-robin)"`
	RetryTimeout     time.Duration `env:"RETRY_TIMEOUT" default:"30s" help:"APS-Retry-Timeout sent with 202 answers (whole seconds)"`
	TLSCertFile      string        `env:"TLS_CERT_FILE" help:"server certificate (PEM); with TLS_KEY_FILE"`
	TLSKeyFile       string        `env:"TLS_KEY_FILE" help:"server private key (PEM)"`
	TLSDir           string        `env:"TLS_DIR" default:"./data/facade-tls" help:"where a self-signed server certificate is generated and kept when no files are given"`
	ControllerCAFile string        `env:"CONTROLLER_CA_FILE" help:"optional CA (PEM) the controller certificate of a new instance must chain to"`
	AuthCacheTTL     time.Duration `env:"AUTH_CACHE_TTL" default:"5s" help:"how long an instance's controller certificate is cached (short, so that every facade replica sees a re-installed instance within seconds)"`
	config.Observability
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.BasePath, "/") {
		errs = append(errs, errors.New("BASE_PATH must start with /"))
	}
	if c.RetryTimeout < time.Second {
		errs = append(errs, errors.New("RETRY_TIMEOUT must be at least 1s"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together"))
	}
	if c.TenantAddr == "" || c.SubscriptionAddr == "" || c.UserAddr == "" {
		errs = append(errs, errors.New("TENANT_ADDR, SUBSCRIPTION_ADDR and USER_ADDR are required"))
	}
	return errors.Join(errs...)
}

// Load reads the configuration from the environment.
func Load() (*Config, error) {
	var c Config
	if err := config.Load(Prefix, &c); err != nil {
		return nil, err
	}
	c.BasePath = "/" + strings.Trim(c.BasePath, "/")
	if c.BasePath == "/" {
		c.BasePath = ""
	}
	return &c, nil
}
