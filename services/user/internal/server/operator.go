package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"

	"github.com/o365gateway/gateway/services/user/internal/storage"
	"github.com/o365gateway/gateway/services/user/internal/users"
)

// Operator shows the users to the operators' tools (adminapi.Resources);
// a user's failed operation is retried, a running one cancelled, through
// its lifecycle.
type Operator struct {
	Store storage.Store
	Users *users.Service
}

var _ adminapi.Resources = (*Operator)(nil)

// Types implements adminapi.Resources.
func (o *Operator) Types() []string { return []string{"user"} }

// List implements adminapi.Resources: a tenant's users.
func (o *Operator) List(ctx context.Context, _, instanceID, tenantID, token string, size int) ([]*adminv1.Resource, string, error) {
	if instanceID == "" || tenantID == "" {
		return nil, "", apierr.Invalid("Users are listed per tenant: name it and its instance (tenant_id, instance_id).")
	}
	list, err := o.Store.ListByTenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, "", err
	}
	page, next := adminapi.Page(list, func(u *storage.User) string { return u.ID }, token, size)
	out := make([]*adminv1.Resource, 0, len(page))
	for _, u := range page {
		out = append(out, userResource(u))
	}
	return out, next, nil
}

// Get implements adminapi.Resources.
func (o *Operator) Get(ctx context.Context, _, instanceID, id string) (*adminv1.Resource, error) {
	u, err := o.Store.Get(ctx, instanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "No user %s in instance %s.", id, instanceID)
	}
	if err != nil {
		return nil, err
	}
	return userResource(u), nil
}

// TenantKeys implements adminapi.Resources: the tenant's users.
func (o *Operator) TenantKeys(ctx context.Context, instanceID, tenantID string) ([]string, error) {
	list, err := o.Store.ListByTenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(list))
	for _, u := range list {
		keys = append(keys, u.ID)
	}
	return keys, nil
}

// Retry implements adminapi.Resources.
func (o *Operator) Retry(ctx context.Context, _, instanceID, id string) error {
	return o.Users.Retry(ctx, instanceID, id)
}

// Cancel implements adminapi.Resources.
func (o *Operator) Cancel(ctx context.Context, _, instanceID, id, by string) error {
	return o.Users.Cancel(ctx, instanceID, id, by)
}

func userResource(u *storage.User) *adminv1.Resource {
	return &adminv1.Resource{Type: "user", Id: u.ID, InstanceId: u.InstanceID, TenantId: u.TenantID, Name: u.Login, State: u.State,
		MsId: u.MSUserID, Operation: adminapi.OperationMessage(&u.Op),
		Details: adminapi.Struct(map[string]any{"display_name": u.DisplayName, "usage_location": u.UsageLocation,
			"account_enabled": u.AccountEnabled, "licenses": u.Assigned, "adopted": u.Imported})}
}
