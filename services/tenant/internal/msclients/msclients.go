// Package msclients builds and caches the Microsoft clients of each
// application instance (one credential and one token cache per instance).
package msclients

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/msauth"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Factory hands out per-instance Partner Center clients.
type Factory struct {
	Endpoints     clouds.Endpoints
	Simulated     bool
	HTTP          *http.Client
	Sealer        *secret.Sealer
	Log           *slog.Logger
	MaxRetryDelay time.Duration
	// OnRotate persists a rotated refresh token of an instance.
	OnRotate func(ctx context.Context, instanceID string, token secret.String) error

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	stamp time.Time
	pc    *partnercenter.Client
	cred  azcore.TokenCredential
}

func (f *Factory) credential(in *storage.Instance) (azcore.TokenCredential, error) {
	opts := msauth.Options{Endpoints: f.Endpoints, HTTP: f.HTTP, Simulated: f.Simulated}
	clientSecret, err := f.Sealer.Open(in.ClientSecretSealed)
	if err != nil {
		return nil, err
	}
	if !clientSecret.Empty() {
		return msauth.ClientSecret(opts, in.PartnerTenantID, in.ClientID, clientSecret)
	}
	refresh, err := f.Sealer.Open(in.RefreshTokenSealed)
	if err != nil {
		return nil, err
	}
	if refresh.Empty() {
		return nil, fmt.Errorf("instance has neither a client secret nor a refresh token")
	}
	id := in.InstanceID
	return msauth.NewRefreshToken(opts, in.PartnerTenantID, in.ClientID, secret.String{}, refresh,
		func(ctx context.Context, tok secret.String) error {
			if f.OnRotate == nil {
				return nil
			}
			return f.OnRotate(ctx, id, tok)
		}), nil
}

func (f *Factory) get(in *storage.Instance) (cached, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.cache[in.InstanceID]; ok && c.stamp.Equal(in.UpdatedAt) {
		return c, nil
	}
	cred, err := f.credential(in)
	if err != nil {
		return cached{}, err
	}
	c := cached{stamp: in.UpdatedAt, cred: cred, pc: partnercenter.New(f.Endpoints, cred, f.HTTP,
		partnercenter.Options{MaxRetryDelay: f.MaxRetryDelay, Log: f.Log})}
	if f.cache == nil {
		f.cache = map[string]cached{}
	}
	f.cache[in.InstanceID] = c
	return c, nil
}

// PartnerCenter returns the instance's Partner Center client.
func (f *Factory) PartnerCenter(in *storage.Instance) (*partnercenter.Client, error) {
	c, err := f.get(in)
	return c.pc, err
}

// CheckCredentials obtains a Partner Center token for the instance, proving
// that Microsoft accepts its credentials.
func (f *Factory) CheckCredentials(ctx context.Context, in *storage.Instance) error {
	cred, err := f.credential(in)
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
