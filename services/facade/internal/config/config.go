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
	Registration     string        `env:"REGISTRATION_POLICY" default:"open" help:"who may register an instance (POST /app): controller-ca (the controller's certificate must chain to CONTROLLER_CA_FILE; production) or open (any controller; development, logged as a warning)"`
	ControllerCAFile string        `env:"CONTROLLER_CA_FILE" help:"the CA (PEM) the controller certificate of a new instance must chain to (REGISTRATION_POLICY=controller-ca)"`
	AuthCacheTTL     time.Duration `env:"AUTH_CACHE_TTL" default:"5s" help:"how long an instance's controller certificate is cached (short, so that every facade replica sees a re-installed instance within seconds)"`
	AdminAddr        string        `env:"ADMIN_ADDR" help:"optional plaintext HTTP address for kubelet and Prometheus: /healthz (liveness), /readyz (readiness: the tenant service is ready; a subscription or user service outage takes only its own routes down, 503 UpstreamUnavailable), /metrics; never the APS listener"`
	config.Mesh
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
	switch c.Registration {
	case "controller-ca":
		if c.ControllerCAFile == "" {
			errs = append(errs, errors.New("REGISTRATION_POLICY=controller-ca needs CONTROLLER_CA_FILE"))
		}
	case "open":
		if c.ControllerCAFile != "" {
			errs = append(errs, errors.New("CONTROLLER_CA_FILE applies with REGISTRATION_POLICY=controller-ca; set it, or remove the file"))
		}
	default:
		errs = append(errs, errors.New("REGISTRATION_POLICY must be controller-ca or open"))
	}
	errs = append(errs, c.Mesh.Validate(), c.Observability.Validate())
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
