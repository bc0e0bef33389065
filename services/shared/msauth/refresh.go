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
// Entra returns a new refresh token with each redemption; OnRotate receives it
// so that the caller can persist it (tokens live 90 days).
type RefreshToken struct {
	Options  Options
	TenantID string
	ClientID string
	// ClientSecret is optional (confidential clients send it).
	ClientSecret secret.String
	OnRotate     func(ctx context.Context, newToken secret.String) error

	mu      sync.Mutex
	refresh secret.String
	cache   map[string]azcore.AccessToken
}

// NewRefreshToken returns a credential starting from token.
func NewRefreshToken(o Options, tenantID, clientID string, clientSecret, token secret.String, onRotate func(context.Context, secret.String) error) *RefreshToken {
	return &RefreshToken{Options: o, TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret, OnRotate: onRotate, refresh: token, cache: map[string]azcore.AccessToken{}}
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
	if c.refresh.Empty() {
		return azcore.AccessToken{}, errors.New("no refresh token configured for app+user calls")
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {c.ClientID},
		"refresh_token": {c.refresh.Reveal()},
		"scope":         {strings.Join(opts.Scopes, " ") + " offline_access"},
	}
	if !c.ClientSecret.Empty() {
		form.Set("client_secret", c.ClientSecret.Reveal())
	}
	endpoint := c.Options.Endpoints.LoginAuthority + url.PathEscape(tenant) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Options.HTTP.Do(req)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		// error_description never contains the token; keep only its first line.
		desc, _, _ := strings.Cut(out.Description, "\n")
		return azcore.AccessToken{}, fmt.Errorf("refresh token redemption failed: HTTP %d %s %s", resp.StatusCode, out.Error, desc)
	}
	tok := azcore.AccessToken{Token: out.AccessToken, ExpiresOn: time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)}
	c.cache[key] = tok
	if out.RefreshToken != "" && out.RefreshToken != c.refresh.Reveal() {
		c.refresh = secret.New(out.RefreshToken)
		if c.OnRotate != nil {
			if err := c.OnRotate(ctx, c.refresh); err != nil {
				return tok, fmt.Errorf("persist rotated refresh token: %w", err)
			}
		}
	}
	return tok, nil
}
