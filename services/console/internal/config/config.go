// Package config is the console's one typed configuration: where it
// listens and how operators get in, and how it reaches the deployment's
// services (their addresses and its tool certificate, or a stack file).
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// Prefix of the console's environment variables.
const Prefix = "CONSOLE"

// Config of the console.
type Config struct {
	ListenAddr  string `env:"LISTEN_ADDR" default:"127.0.0.1:9080" help:"listen address of the console: HTTPS with TLS_CERT_FILE, else plain HTTP (then only behind a TLS-terminating proxy, or on loopback)"`
	TLSCertFile string `env:"TLS_CERT_FILE" help:"the console's server certificate (PEM), with TLS_KEY_FILE: serve HTTPS (required with CLIENT_CA_FILE); re-read when it changes"`
	TLSKeyFile  string `env:"TLS_KEY_FILE" help:"the private key (PEM) of TLS_CERT_FILE"`
	// Access control: client certificates, an admin token, or both.
	ClientCAFile   string        `env:"CLIENT_CA_FILE" help:"access by the operators' client certificates: every connection must present one that chains to this CA (PEM)"`
	AdminTokenFile string        `env:"ADMIN_TOKEN_FILE" help:"access by a static admin token: the file holding it (at least 16 characters; e.g. a Kubernetes Secret mounted as a file, re-read when it changes); an operator logs in once with it and gets a session cookie"`
	SessionTTL     time.Duration `env:"SESSION_TTL" default:"8h" help:"how long a login with the admin token lasts (1m to 168h)"`
	InsecureNoAuth bool          `env:"INSECURE_NO_AUTH" help:"serve without access control; for a test only (logged as an error)"`
	// The deployment.
	StackFile        string `env:"STACK_FILE" help:"a stack file (the dev stack's .run/stack.json) with the services' addresses and the tool certificate; the keys below override its entries"`
	TenantAddr       string `env:"TENANT_ADDR" help:"gRPC address of the tenant service (one address, comma-separated replicas, or dns:///host:port)"`
	SubscriptionAddr string `env:"SUBSCRIPTION_ADDR" help:"gRPC address of the subscription service"`
	UserAddr         string `env:"USER_ADDR" help:"gRPC address of the user/license service"`
	MTLSCAFile       string `env:"MTLS_CA_FILE" help:"the deployment CA (PEM) that the services' certificates chain to"`
	MTLSCertFile     string `env:"MTLS_CERT_FILE" help:"the console's tool certificate (PEM): its SPIFFE ID must be one the services' AUTHZ_POLICY_FILE allows the admin API to"`
	MTLSKeyFile      string `env:"MTLS_KEY_FILE" help:"the private key (PEM) of MTLS_CERT_FILE"`
	TrustDomain      string `env:"TRUST_DOMAIN" help:"the SPIFFE trust domain of the deployment (default: the stack file's, else o365gw.local)"`
	// Pages.
	CallTimeout time.Duration `env:"CALL_TIMEOUT" default:"20s" help:"how long the service calls of one page may take together"`
	PageSize    int           `env:"PAGE_SIZE" default:"100" help:"rows a listing asks each service for (jobs, resources, audit entries; 1 to 1000)"`
	AdminAddr   string        `env:"ADMIN_ADDR" help:"optional plaintext HTTP address for kubelet and Prometheus: /healthz, /readyz, /metrics; never the operators' listener"`
	config.Observability

	// Tools is where the services are and the tool identity, merged from
	// the stack file and the keys above (by Load).
	Tools opsclient.Config
}

// Validate checks the configuration (the files are read by Load and at start).
func (c *Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" {
		errs = append(errs, errors.New("LISTEN_ADDR is required"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together"))
	}
	switch {
	case c.InsecureNoAuth && (c.ClientCAFile != "" || c.AdminTokenFile != ""):
		errs = append(errs, errors.New("INSECURE_NO_AUTH excludes CLIENT_CA_FILE and ADMIN_TOKEN_FILE"))
	case !c.InsecureNoAuth && c.ClientCAFile == "" && c.AdminTokenFile == "":
		errs = append(errs, errors.New("no access control: set CLIENT_CA_FILE (operators' client certificates) or ADMIN_TOKEN_FILE (an admin token), or both (INSECURE_NO_AUTH=true only for a test)"))
	}
	if c.ClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("CLIENT_CA_FILE needs HTTPS: set TLS_CERT_FILE and TLS_KEY_FILE"))
	}
	// Zero (a configuration built in code) means the default.
	if c.SessionTTL != 0 && (c.SessionTTL < time.Minute || c.SessionTTL > 7*24*time.Hour) {
		errs = append(errs, errors.New("SESSION_TTL must be between 1m and 168h"))
	}
	if c.CallTimeout != 0 && c.CallTimeout < time.Second {
		errs = append(errs, errors.New("CALL_TIMEOUT must be at least 1s"))
	}
	if c.PageSize < 0 || c.PageSize > 1000 {
		errs = append(errs, errors.New("PAGE_SIZE must be between 1 and 1000"))
	}
	if c.StackFile == "" {
		if c.TenantAddr == "" || c.SubscriptionAddr == "" || c.UserAddr == "" {
			errs = append(errs, errors.New("TENANT_ADDR, SUBSCRIPTION_ADDR and USER_ADDR are required (or STACK_FILE)"))
		}
		if c.MTLSCAFile == "" || c.MTLSCertFile == "" || c.MTLSKeyFile == "" {
			errs = append(errs, errors.New("MTLS_CA_FILE, MTLS_CERT_FILE and MTLS_KEY_FILE (the console's tool certificate) are required (or STACK_FILE)"))
		}
	}
	errs = append(errs, c.Observability.Validate())
	return errors.Join(errs...)
}

// Load reads the configuration from the environment, and the stack file
// when one is named.
func Load() (*Config, error) {
	var c Config
	if err := config.Load(Prefix, &c); err != nil {
		return nil, err
	}
	if err := c.Resolve(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

// Resolve merges the stack file (if any) and the keys into c.Tools, and
// fills the defaults of zero durations and sizes.
func (c *Config) Resolve() error {
	if c.SessionTTL == 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 20 * time.Second
	}
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	tools := opsclient.Config{}
	if c.StackFile != "" {
		s, err := opsclient.ReadStack(c.StackFile)
		if err != nil {
			return fmt.Errorf("STACK_FILE: %w", err)
		}
		tools = s
	}
	if tools.Addresses == nil {
		tools.Addresses = map[string]string{}
	}
	for svc, addr := range map[string]string{"tenant": c.TenantAddr, "subscription": c.SubscriptionAddr, "user": c.UserAddr} {
		if addr != "" {
			tools.Addresses[svc] = addr
		}
	}
	for _, f := range []struct{ to, from *string }{{&tools.CAFile, &c.MTLSCAFile}, {&tools.CertFile, &c.MTLSCertFile},
		{&tools.KeyFile, &c.MTLSKeyFile}, {&tools.TrustDomain, &c.TrustDomain}} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	if tools.TrustDomain == "" {
		tools.TrustDomain = "o365gw.local"
	}
	var errs []error
	for _, svc := range opsclient.Services {
		if tools.Addresses[svc] == "" {
			errs = append(errs, fmt.Errorf("no address of the %s service (STACK_FILE or %s_ADDR)", svc, map[string]string{
				"tenant": "TENANT", "subscription": "SUBSCRIPTION", "user": "USER"}[svc]))
		}
	}
	if tools.CAFile == "" || tools.CertFile == "" || tools.KeyFile == "" {
		errs = append(errs, errors.New("no tool certificate (STACK_FILE or MTLS_CA_FILE, MTLS_CERT_FILE and MTLS_KEY_FILE)"))
	}
	c.Tools = tools
	return errors.Join(errs...)
}
