package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// Operator shows the tenant service's resources to the operators' tools
// (adminapi.Resources): instances, tenants and domains; a tenant's failed
// operation is retried, a running one cancelled, through its lifecycle.
type Operator struct {
	Store   storage.Store
	Tenants *tenants.Service
}

var _ adminapi.Resources = (*Operator)(nil)

// Types implements adminapi.Resources.
func (o *Operator) Types() []string { return []string{"instance", "tenant", "domain"} }

// List implements adminapi.Resources.
func (o *Operator) List(ctx context.Context, typ, instanceID, tenantID, token string, size int) ([]*adminv1.Resource, string, error) {
	var out []*adminv1.Resource
	switch typ {
	case "instance":
		if instanceID != "" {
			in, err := o.Store.GetInstance(ctx, instanceID)
			if errors.Is(err, storage.ErrNotFound) {
				return nil, "", nil
			}
			if err != nil {
				return nil, "", err
			}
			return []*adminv1.Resource{instanceResource(in)}, "", nil
		}
		list, err := o.Store.ListInstances(ctx, token, size)
		if err != nil {
			return nil, "", err
		}
		for _, in := range list {
			out = append(out, instanceResource(in))
		}
		return out, nextToken(len(list) == size, func() string { return list[len(list)-1].InstanceID }), nil
	case "tenant":
		if instanceID == "" {
			return nil, "", apierr.Invalid("Tenants are listed per instance: name it (instance_id).")
		}
		list, err := o.Store.ListTenants(ctx, instanceID, token, size)
		if err != nil {
			return nil, "", err
		}
		for _, t := range list {
			out = append(out, tenantResource(t))
		}
		return out, nextToken(len(list) == size, func() string { return list[len(list)-1].ID }), nil
	default: // domain
		if instanceID == "" || tenantID == "" {
			return nil, "", apierr.Invalid("Domains are listed per tenant: name it and its instance (tenant_id, instance_id).")
		}
		list, err := o.Store.ListDomains(ctx, instanceID, tenantID)
		if err != nil {
			return nil, "", err
		}
		page, next := adminapi.Page(list, func(d *storage.Domain) string { return d.ID }, token, size)
		for _, d := range page {
			out = append(out, domainResource(d))
		}
		return out, next, nil
	}
}

func nextToken(full bool, last func() string) string {
	if !full {
		return ""
	}
	return last()
}

// Get implements adminapi.Resources.
func (o *Operator) Get(ctx context.Context, typ, instanceID, id string) (*adminv1.Resource, error) {
	var r *adminv1.Resource
	var err error
	switch typ {
	case "instance":
		var in *storage.Instance
		if in, err = o.Store.GetInstance(ctx, id); err == nil {
			r = instanceResource(in)
		}
	case "tenant":
		var t *storage.Tenant
		if t, err = o.Store.GetTenant(ctx, instanceID, id); err == nil {
			r = tenantResource(t)
		}
	default:
		var d *storage.Domain
		if d, err = o.Store.GetDomain(ctx, instanceID, id); err == nil {
			r = domainResource(d)
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "No %s %s in instance %s.", typ, id, instanceID)
	}
	return r, err
}

// TenantKeys implements adminapi.Resources: the tenant's domains and its
// drift and synchronization jobs.
func (o *Operator) TenantKeys(ctx context.Context, instanceID, tenantID string) ([]string, error) {
	ds, err := o.Store.ListDomains(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	keys := []string{"drift:" + tenantID, "sync:" + tenantID}
	for _, d := range ds {
		keys = append(keys, d.ID)
	}
	return keys, nil
}

// Retry implements adminapi.Resources.
func (o *Operator) Retry(ctx context.Context, typ, instanceID, id string) error {
	if typ != "tenant" {
		return apierr.Invalid("A %s has no operation to retry.", typ)
	}
	return o.Tenants.Retry(ctx, instanceID, id)
}

// Cancel implements adminapi.Resources.
func (o *Operator) Cancel(ctx context.Context, typ, instanceID, id, by string) error {
	if typ != "tenant" {
		return apierr.Invalid("A %s has no operation to cancel.", typ)
	}
	return o.Tenants.Cancel(ctx, instanceID, id, by)
}

func instanceResource(in *storage.Instance) *adminv1.Resource {
	kind := "client_secret"
	if in.AppUser() {
		kind = "refresh_token"
	}
	var checked string
	if !in.Health.CheckedAt.IsZero() {
		checked = in.Health.CheckedAt.UTC().Format(time.RFC3339)
	}
	return &adminv1.Resource{Type: "instance", Id: in.InstanceID, InstanceId: in.InstanceID, Name: in.AppID,
		State: in.Health.Credentials.State,
		Details: adminapi.Struct(map[string]any{"app_id": in.AppID, "cloud": in.Cloud, "partner_tenant_id": in.PartnerTenantID,
			"client_id": in.ClientID, "credential": kind, "reseller_mode": in.ResellerMode, "package_version": in.PackageVersion,
			"test_partner": in.TestPartner, "health_checked_at": checked, "tenants_at_risk": len(in.Health.TenantsAtRisk),
			"credential_message": in.Health.Credentials.Message})}
}

func tenantResource(t *storage.Tenant) *adminv1.Resource {
	var lastSync string
	if t.LastSync != nil {
		lastSync = t.LastSync.UTC().Format(time.RFC3339)
	}
	drifts := 0
	if t.Drift.Report != nil {
		drifts = len(t.Drift.Report.Items)
	}
	return &adminv1.Resource{Type: "tenant", Id: t.ID, InstanceId: t.InstanceID, Name: t.InitialDomain, State: t.State,
		MsId: t.MSCustomerID, Operation: adminapi.OperationMessage(&t.Op),
		Details: adminapi.Struct(map[string]any{"company": t.Company.Name, "country": t.Address.Country, "linked": t.Linked,
			"admin_login": t.AdminLogin, "gdap": t.GDAP.Current(), "gdap_approval_url": t.GDAP.ApprovalURL,
			"last_synchronization": lastSync, "seats": t.Seats, "drift_items": drifts})}
}

func domainResource(d *storage.Domain) *adminv1.Resource {
	return &adminv1.Resource{Type: "domain", Id: d.ID, InstanceId: d.InstanceID, TenantId: d.TenantID, Name: d.Name, State: d.State}
}
