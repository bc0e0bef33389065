// Package msclients adapts the shared per-instance Microsoft client factory
// to the tenant service's stored instances (whose secrets are sealed).
package msclients

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Factory hands out the clients of stored instances.
type Factory struct {
	*msclients.Factory
	Sealer *secret.Sealer
}

func (f *Factory) credentials(in *storage.Instance) (msclients.Credentials, error) {
	cs, err := f.Sealer.Open(in.ClientSecretSealed)
	if err != nil {
		return msclients.Credentials{}, err
	}
	rt, err := f.Sealer.Open(in.RefreshTokenSealed)
	if err != nil {
		return msclients.Credentials{}, err
	}
	return msclients.Credentials{InstanceID: in.InstanceID, PartnerTenantID: in.PartnerTenantID, ClientID: in.ClientID,
		ClientSecret: cs, RefreshToken: rt}, nil
}

// PartnerCenter returns the instance's Partner Center client.
func (f *Factory) PartnerCenter(in *storage.Instance) (*partnercenter.Client, error) {
	c, err := f.credentials(in)
	if err != nil {
		return nil, err
	}
	return f.Factory.PartnerCenter(c)
}

// CheckCredentials proves that Microsoft accepts the instance's credentials.
func (f *Factory) CheckCredentials(ctx context.Context, in *storage.Instance) error {
	c, err := f.credentials(in)
	if err != nil {
		return err
	}
	return f.Factory.CheckCredentials(ctx, c)
}

// Graph returns the Graph client of one customer tenant of the instance.
func (f *Factory) Graph(in *storage.Instance, customerTenantID string) (*graph.Client, error) {
	c, err := f.credentials(in)
	if err != nil {
		return nil, err
	}
	return f.Factory.Graph(c, customerTenantID)
}
