// Package msclients is the one factory of Microsoft clients every service
// uses: per application instance one credential (and token cache) and one
// Partner Center client, and per customer tenant of the instance one Graph
// client with its own token and rate limiter; all rebuilt when the
// instance's credentials change. The tenant service opens its stored
// credentials itself; the others get them from the tenant service
// (tenantclient).
package msclients

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"
)

// Credentials of one instance's partner application.
type Credentials struct {
	InstanceID      string
	PartnerTenantID string
	ClientID        string
	// ClientSecret is used when set (app-only); otherwise RefreshToken (app+user).
	ClientSecret secret.String
	RefreshToken secret.String
}

func (c Credentials) fingerprint() string {
	h := sha256.New()
	for _, s := range []string{c.PartnerTenantID, c.ClientID, c.ClientSecret.Reveal(), c.RefreshToken.Reveal()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Factory hands out per-instance clients.
type Factory struct {
	Endpoints     clouds.Endpoints
	Simulated     bool
	HTTP          *http.Client
	Log           *slog.Logger
	MaxRetryDelay time.Duration
	// OnRotate persists a rotated refresh token of an instance (optional).
	OnRotate func(ctx context.Context, instanceID string, token secret.String) error

	// GraphWritesPerSecond paces writes per customer tenant (0: the default).
	GraphWritesPerSecond float64

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	fingerprint string
	pc          *partnercenter.Client
	cred        azcore.TokenCredential
	graph       map[string]*graph.Client
}

// Credential builds the Entra credential of an instance.
func (f *Factory) Credential(c Credentials) (azcore.TokenCredential, error) {
	opts := msauth.Options{Endpoints: f.Endpoints, HTTP: f.HTTP, Simulated: f.Simulated}
	if !c.ClientSecret.Empty() {
		return msauth.ClientSecret(opts, c.PartnerTenantID, c.ClientID, c.ClientSecret)
	}
	if c.RefreshToken.Empty() {
		return nil, fmt.Errorf("instance has neither a client secret nor a refresh token")
	}
	id := c.InstanceID
	return msauth.NewRefreshToken(opts, c.PartnerTenantID, c.ClientID, secret.String{}, c.RefreshToken,
		func(ctx context.Context, tok secret.String) error {
			if f.OnRotate == nil {
				return nil
			}
			return f.OnRotate(ctx, id, tok)
		}), nil
}

// entry returns the instance's cached clients, rebuilt when its credentials change.
func (f *Factory) entry(c Credentials) (*cached, error) {
	fp := c.fingerprint()
	if e, ok := f.cache[c.InstanceID]; ok && e.fingerprint == fp {
		return e, nil
	}
	cred, err := f.Credential(c)
	if err != nil {
		return nil, err
	}
	e := &cached{fingerprint: fp, cred: cred, graph: map[string]*graph.Client{},
		pc: partnercenter.New(f.Endpoints, cred, f.HTTP, partnercenter.Options{MaxRetryDelay: f.MaxRetryDelay, Log: f.Log})}
	if f.cache == nil {
		f.cache = map[string]*cached{}
	}
	f.cache[c.InstanceID] = e
	return e, nil
}

// PartnerCenter returns the instance's Partner Center client.
func (f *Factory) PartnerCenter(c Credentials) (*partnercenter.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.entry(c)
	if err != nil {
		return nil, err
	}
	return e.pc, nil
}

// Graph returns the Graph client of one customer tenant of the instance: one
// per tenant, so that its token (issued by that tenant) and its rate limiter
// are shared by every request for the tenant.
func (f *Factory) Graph(c Credentials, customerTenantID string) (*graph.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.entry(c)
	if err != nil {
		return nil, err
	}
	if g, ok := e.graph[customerTenantID]; ok {
		return g, nil
	}
	g := graph.New(f.Endpoints, e.cred, customerTenantID, f.HTTP, graph.Options{MaxRetryDelay: f.MaxRetryDelay, Log: f.Log,
		WritesPerSecond: f.GraphWritesPerSecond})
	e.graph[customerTenantID] = g
	return g, nil
}

// CheckCredentials obtains a Partner Center token, proving that Microsoft
// accepts the credentials.
func (f *Factory) CheckCredentials(ctx context.Context, c Credentials) error {
	cred, err := f.Credential(c)
	if err != nil {
		return err
	}
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{f.Endpoints.PartnerCenterAudience + "/.default"}})
	return err
}

// Forget drops the cached clients of an instance.
func (f *Factory) Forget(instanceID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, instanceID)
}
