package msauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/secret"
)

// RefreshToken is an azcore.TokenCredential that redeems a stored refresh
// token (secure application model, app+user) at the v2.0 token endpoint.
// Entra returns a new refresh token with each redemption and invalidates
// the one redeemed: Store keeps the newest token for every process that
// redeems it (tokens live 90 days).
type RefreshToken struct {
	Options  Options
	TenantID string
	ClientID string
	// ClientSecret is optional (confidential clients send it).
	ClientSecret secret.String
	Store        TokenStore

	mu    sync.Mutex
	cache map[string]azcore.AccessToken
}

// TokenStore holds the refresh token of one application instance.
type TokenStore interface {
	// Redeem calls redeem with the newest stored refresh token while
	// holding a lock that no other process (replica) can take, and stores
	// the token redeem returns, when it differs, before releasing the
	// lock: two replicas never redeem one token, and no rotation is lost.
	Redeem(ctx context.Context, redeem func(current secret.String) (next secret.String, err error)) error
}

// MemoryStore is a TokenStore for one process (tools and tests).
type MemoryStore struct {
	mu    sync.Mutex
	token secret.String
	// Rotations counts the stored rotations.
	Rotations int
}

// NewMemoryStore returns a store holding token.
func NewMemoryStore(token secret.String) *MemoryStore { return &MemoryStore{token: token} }

// Redeem implements TokenStore.
func (m *MemoryStore) Redeem(_ context.Context, redeem func(secret.String) (secret.String, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := redeem(m.token)
	if err == nil && !next.Empty() && next.Reveal() != m.token.Reveal() {
		m.token = next
		m.Rotations++
	}
	return err
}

// Token returns the stored token.
func (m *MemoryStore) Token() secret.String {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// NewRefreshToken returns a credential redeeming the token of store.
func NewRefreshToken(o Options, tenantID, clientID string, clientSecret secret.String, store TokenStore) *RefreshToken {
	return &RefreshToken{Options: o, TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret, Store: store, cache: map[string]azcore.AccessToken{}}
}

// GetToken implements azcore.TokenCredential. TokenRequestOptions.TenantID
// selects a customer tenant (a token issued by that tenant for the partner's app).
func (c *RefreshToken) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tenant := c.TenantID
	if opts.TenantID != "" {
		tenant = opts.TenantID
	}
	key := tenant + "|" + strings.Join(opts.Scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok, ok := c.cache[key]; ok && time.Until(tok.ExpiresOn) > 5*time.Minute {
		return tok, nil
	}
	var tok azcore.AccessToken
	err := c.Store.Redeem(ctx, func(current secret.String) (secret.String, error) {
		if current.Empty() {
			return secret.String{}, errors.New("no refresh token configured for app+user calls")
		}
		var next secret.String
		var err error
		tok, next, err = c.redeem(ctx, current, tenant, opts.Scopes)
		return next, err
	})
	if err != nil {
		return azcore.AccessToken{}, err
	}
	c.cache[key] = tok
	return tok, nil
}

// redeem exchanges refresh for an access token and the next refresh token.
func (c *RefreshToken) redeem(ctx context.Context, refresh secret.String, tenant string, scopes []string) (azcore.AccessToken, secret.String, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {c.ClientID},
		"refresh_token": {refresh.Reveal()},
		"scope":         {strings.Join(scopes, " ") + " offline_access"},
	}
	if !c.ClientSecret.Empty() {
		form.Set("client_secret", c.ClientSecret.Reveal())
	}
	endpoint := c.Options.Endpoints.LoginAuthority + url.PathEscape(tenant) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, secret.String{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Options.transport().Do(req)
	if err != nil {
		countRedemption(ctx, redeemUnavailable)
		return azcore.AccessToken{}, secret.String{}, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		// error_description never contains the token; Failure keeps only its first line.
		f := failureOf(resp.StatusCode, body)
		countRedemption(ctx, failureOutcome(f))
		return azcore.AccessToken{}, secret.String{}, f
	}
	countRedemption(ctx, redeemOK)
	tok := azcore.AccessToken{Token: out.AccessToken, ExpiresOn: time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)}
	next := refresh
	if out.RefreshToken != "" {
		next = secret.New(out.RefreshToken)
	}
	return tok, next, nil
}
