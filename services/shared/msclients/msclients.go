// Package msclients is the one factory of Microsoft clients every service
// uses: per application instance one credential (and token cache) and one
// Partner Center client, and per customer tenant of the instance one Graph
// client with its own token and rate budgets; all rebuilt when the
// instance's credentials change. Only the tenant service holds an
// instance's secrets; the other services get short-lived access tokens
// from it (Credentials.Broker, tenantclient).
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

	"github.com/o365gateway/gateway/services/shared/budget"
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
	// ClientSecret is used when set (app-only); otherwise RefreshToken
	// (app+user), read and rotated through Factory.Tokens.
	ClientSecret secret.String
	RefreshToken secret.String
	// Broker, when set, issues the access tokens instead: a service that
	// is not the tenant service holds no secret of the instance.
	Broker azcore.TokenCredential
}

// fingerprint changes when the credential must be rebuilt. A rotated
// refresh token does not count: the credential reads the newest one from
// its store at each redemption.
func (c Credentials) fingerprint() string {
	h := sha256.New()
	mode := "secret"
	switch {
	case c.Broker != nil:
		mode = "broker"
	case c.ClientSecret.Empty() && !c.RefreshToken.Empty():
		mode = "refresh"
	}
	for _, s := range []string{c.PartnerTenantID, c.ClientID, c.ClientSecret.Reveal(), mode} {
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
	// Tokens returns the store of an instance's refresh token (the tenant
	// service: its database, locked per instance). Without it a refresh
	// token lives in the process only.
	Tokens func(c Credentials) msauth.TokenStore
	// Budget charges Microsoft's rate budgets (default: in the process);
	// with the database's store the service's replicas share them.
	Budget *budget.Limiter

	// GraphWritesPerSecond and GraphWriteBurst are the Graph write budget
	// per application and customer tenant (0: Graph's published limit,
	// 3,000 writes per 150 s); every request also draws on a
	// resource-unit budget (package graph). Graph's Retry-After and
	// x-ms-throttle-* headers pause and lower them.
	GraphWritesPerSecond float64
	GraphWriteBurst      float64
	// PartnerCenterPerSecond and PartnerCenterBurst are the budget per
	// partner (0: package partnercenter's defaults); calls about one
	// customer also draw on a budget per partner and customer of a quarter
	// of it. Partner Center's 429s pause them.
	PartnerCenterPerSecond float64
	PartnerCenterBurst     float64

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
	if c.Broker != nil {
		return c.Broker, nil
	}
	if !c.ClientSecret.Empty() {
		return msauth.ClientSecret(opts, c.PartnerTenantID, c.ClientID, c.ClientSecret)
	}
	if c.RefreshToken.Empty() {
		return nil, fmt.Errorf("instance has neither a client secret nor a refresh token")
	}
	var store msauth.TokenStore = msauth.NewMemoryStore(c.RefreshToken)
	if f.Tokens != nil {
		store = f.Tokens(c)
	}
	return msauth.NewRefreshToken(opts, c.PartnerTenantID, c.ClientID, secret.String{}, store), nil
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
		pc: partnercenter.New(f.Endpoints, cred, f.HTTP, partnercenter.Options{MaxRetryDelay: f.MaxRetryDelay, Log: f.Log,
			RequestsPerSecond: f.PartnerCenterPerSecond, Burst: f.PartnerCenterBurst, Budget: f.Budget, BudgetKey: c.PartnerTenantID})}
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
		WritesPerSecond: f.GraphWritesPerSecond, WriteBurst: f.GraphWriteBurst, Budget: f.Budget,
		BudgetKey: c.ClientID + "/" + customerTenantID})
	e.graph[customerTenantID] = g
	return g, nil
}

// CheckCredentials obtains a Partner Center token, proving that Microsoft
// accepts the credentials of an instance not stored yet (or about to
// change). It returns the refresh token to store: redeeming one spends it,
// and Entra answers with the next one.
func (f *Factory) CheckCredentials(ctx context.Context, c Credentials) (secret.String, error) {
	opts := msauth.Options{Endpoints: f.Endpoints, HTTP: f.HTTP, Simulated: f.Simulated}
	scope := policy.TokenRequestOptions{Scopes: []string{f.Endpoints.PartnerCenterAudience + "/.default"}}
	if !c.ClientSecret.Empty() {
		cred, err := msauth.ClientSecret(opts, c.PartnerTenantID, c.ClientID, c.ClientSecret)
		if err == nil {
			_, err = cred.GetToken(ctx, scope)
		}
		return c.RefreshToken, err
	}
	if c.RefreshToken.Empty() {
		return secret.String{}, fmt.Errorf("instance has neither a client secret nor a refresh token")
	}
	store := msauth.NewMemoryStore(c.RefreshToken)
	_, err := msauth.NewRefreshToken(opts, c.PartnerTenantID, c.ClientID, secret.String{}, store).GetToken(ctx, scope)
	return store.Token(), err
}

// Audience is an API whose access tokens a Factory issues.
type Audience int

// Audiences.
const (
	PartnerCenter Audience = iota + 1
	Graph
)

// AccessToken obtains an access token of the instance for audience, issued
// by tenantID (a customer's tenant; "" for the partner's own): what the
// tenant service hands the other services instead of secrets.
func (f *Factory) AccessToken(ctx context.Context, c Credentials, tenantID string, audience Audience) (azcore.AccessToken, error) {
	f.mu.Lock()
	e, err := f.entry(c)
	f.mu.Unlock()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	var scope string
	switch audience {
	case PartnerCenter:
		scope = f.Endpoints.PartnerCenterAudience + "/.default"
	case Graph:
		scope = f.Endpoints.GraphAudience + "/.default"
	default:
		return azcore.AccessToken{}, fmt.Errorf("unknown audience %d", audience)
	}
	return e.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}, TenantID: tenantID})
}

// Forget drops the cached clients of an instance.
func (f *Factory) Forget(instanceID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, instanceID)
}
