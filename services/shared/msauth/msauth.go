// Package msauth builds the HTTP transport and the Entra credentials used for
// Microsoft calls: azidentity's client-secret credential for app-only calls,
// and a small refresh-token credential for app+user calls (the secure
// application model), which azidentity does not provide.
package msauth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/o365gateway/gateway/services/shared/tracing"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/secret"
)

// HTTPClient returns the client for Microsoft calls: traced with OpenTelemetry
// (each attempt is a client span carrying traceparent), trusting the system
// roots plus an optional extra CA file (the simulator's).
func HTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read Microsoft CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tracing.HTTPTransport(tr), Timeout: timeout}, nil
}

// Options for credentials.
type Options struct {
	Endpoints clouds.Endpoints
	HTTP      *http.Client
	// Simulated disables Entra instance discovery (a private authority).
	Simulated bool
}

func (o Options) clientOptions() azcore.ClientOptions {
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: o.Endpoints.LoginAuthority}}
	if o.HTTP != nil {
		opts.Transport = o.transport()
	}
	return opts
}

// ClientSecret returns an app-only credential of the partner's application.
func ClientSecret(o Options, tenantID, clientID string, sec secret.String) (azcore.TokenCredential, error) {
	if tenantID == "" || clientID == "" || sec.Empty() {
		return nil, fmt.Errorf("partner tenant id, client id and client secret are required")
	}
	return azidentity.NewClientSecretCredential(tenantID, clientID, sec.Reveal(), &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            o.clientOptions(),
		DisableInstanceDiscovery: o.Simulated,
		// Graph calls ask for tokens issued by each customer's tenant.
		AdditionallyAllowedTenants: []string{"*"},
	})
}
