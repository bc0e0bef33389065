// Package server is the tenant service's gRPC layer: it converts messages to
// the domain packages' inputs and back, and nothing more.
package server

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// APS type ids of the resources this service owns.
const (
	TypeApp    = apsmd.TypeApp
	TypeTenant = apsmd.TypeTenant
)

func instanceInput(m *tenantv1.Instance) instances.Input {
	if m == nil {
		m = &tenantv1.Instance{}
	}
	in := instances.Input{
		AppID: m.GetAps().GetId(), Cloud: m.GetCloud(), PartnerTenantID: strings.TrimSpace(m.GetPartnerTenantId()),
		ClientID: m.GetClientId(), ClientSecret: secret.New(m.GetClientSecret()), RefreshToken: secret.New(m.GetRefreshToken()),
		ResellerMode: m.GetResellerMode(), IndirectResellerMPN: m.GetIndirectResellerMpnId(), SalesCountries: m.GetSalesCountries(),
		TestPartner: m.GetTestPartner(), DefaultUsageLocation: m.GetDefaultUsageLocation(),
		X509Self: secret.New(m.GetAps().GetX509().GetSelf()), X509Controller: m.GetAps().GetX509().GetController(),
		RegisterAdopted: m.RegisterAdopted, GDAPRoles: m.GetGdapRoles(),
	}
	return in
}

// instanceMessage renders an instance; secrets are never returned.
func instanceMessage(in *storage.Instance) *tenantv1.Instance {
	test := in.TestPartner
	register := in.Settings.Registers()
	roles := in.Settings.GDAPRoles
	if len(roles) == 0 {
		roles = gdap.DefaultRoles
	}
	return &tenantv1.Instance{
		Aps:             &apsv1.Meta{Id: in.AppID, Type: TypeApp, Status: "aps:ready"},
		Cloud:           in.Cloud,
		PartnerTenantId: in.PartnerTenantID, ClientId: in.ClientID, ResellerMode: in.ResellerMode,
		IndirectResellerMpnId: in.IndirectResellerMPN, SalesCountries: in.SalesCountries, TestPartner: &test,
		DefaultUsageLocation: in.DefaultUsageLocation, RegisterAdopted: &register, GdapRoles: roles,
	}
}

// gdapMessage renders a tenant's relationship.
func gdapMessage(g gdap.Relationship) *tenantv1.Gdap {
	m := &tenantv1.Gdap{State: g.Current(), RelationshipId: g.RelationshipID, Roles: g.Roles, ApprovalUrl: g.ApprovalURL,
		AutoExtend: g.AutoExtend}
	if !g.ExpiresAt.IsZero() {
		m.ExpiresAt = timestamppb.New(g.ExpiresAt)
	}
	return m
}

func tenantInput(id string, m *tenantv1.Tenant) tenants.Input {
	if m == nil {
		m = &tenantv1.Tenant{}
	}
	if id == "" {
		id = m.GetAps().GetId()
	}
	in := tenants.Input{ID: id, InitialSubdomain: m.GetInitialSubdomain(), MSCustomerID: strings.TrimSpace(m.GetMsCustomerId()),
		AccountID: m.GetAccount().GetAps().GetId()}
	if c := m.GetCompany(); c != nil {
		in.Company = &storage.Company{Name: c.GetName(), Email: c.GetEmail(), Culture: c.GetCulture(), Language: c.GetLanguage(),
			RegistrationNumber: c.GetRegistrationNumber()}
	}
	if a := m.GetAddress(); a != nil {
		in.Address = &storage.Address{FirstName: a.GetFirstName(), LastName: a.GetLastName(), AddressLine1: a.GetAddressLine1(),
			AddressLine2: a.GetAddressLine2(), City: a.GetCity(), State: a.GetState(), PostalCode: a.GetPostalCode(),
			Country: a.GetCountry(), PhoneNumber: a.GetPhoneNumber()}
	}
	if x := m.GetMca(); x != nil {
		in.MCA = &storage.MCA{FirstName: x.GetFirstName(), LastName: x.GetLastName(), Email: x.GetEmail(),
			PhoneNumber: x.GetPhoneNumber(), DateAgreed: x.GetDateAgreed()}
	}
	return in
}

// tenantMessage renders a tenant; the first admin password is opened only
// when the answer reveals it (the answer completing the provisioning).
func tenantMessage(v *tenants.View, sealer *secret.Sealer) (*tenantv1.Tenant, error) {
	if v == nil || v.V == nil {
		return nil, nil
	}
	t, status := v.V, v.Status()
	var password secret.String
	if v.Secret != "" {
		pw, err := sealer.Open(v.Secret, t.SecretAt())
		if err != nil {
			return nil, err
		}
		password = pw
	}
	seats := int32(t.Seats)
	m := &tenantv1.Tenant{
		Aps:              &apsv1.Meta{Id: t.ID, Type: TypeTenant, Status: status},
		InitialSubdomain: t.InitialSubdomain, MsCustomerId: t.MSCustomerID,
		Company: &tenantv1.Company{Name: t.Company.Name, Email: t.Company.Email, Culture: t.Company.Culture,
			Language: t.Company.Language, RegistrationNumber: t.Company.RegistrationNumber},
		Address: &tenantv1.Address{FirstName: t.Address.FirstName, LastName: t.Address.LastName, AddressLine1: t.Address.AddressLine1,
			AddressLine2: t.Address.AddressLine2, City: t.Address.City, State: t.Address.State, PostalCode: t.Address.PostalCode,
			Country: t.Address.Country, PhoneNumber: t.Address.PhoneNumber},
		DomainName: t.InitialDomain, AdminLogin: t.AdminLogin, AdminPassword: password.Reveal(), State: t.State,
		Seats: &apsv1.Counter{Usage: &seats}, Gdap: gdapMessage(t.GDAP),
	}
	if t.MCA != nil {
		m.Mca = &tenantv1.Mca{FirstName: t.MCA.FirstName, LastName: t.MCA.LastName, Email: t.MCA.Email,
			PhoneNumber: t.MCA.PhoneNumber, DateAgreed: t.MCA.DateAgreed}
	}
	if t.AccountID != "" {
		m.Account = &apsv1.Link{Aps: &apsv1.Ref{Id: t.AccountID}}
	}
	if t.LastSync != nil {
		m.LastSynchronization = timestamppb.New(*t.LastSync)
	}
	return m, nil
}

// healthMessage renders an instance's health.
func healthMessage(h storage.Health) *tenantv1.InstanceHealth {
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	m := &tenantv1.InstanceHealth{CheckedAt: ts(h.CheckedAt),
		Credentials: &tenantv1.CredentialHealth{State: h.Credentials.State, Kind: h.Credentials.Kind,
			ExpiresAt: ts(h.Credentials.ExpiresAt), Message: h.Credentials.Message},
		PartnerCenter: &tenantv1.ApiHealth{State: h.PartnerCenter.State, Message: h.PartnerCenter.Message},
		Graph:         &tenantv1.ApiHealth{State: h.Graph.State, Message: h.Graph.Message},
		TenantsAtRisk: []*tenantv1.TenantRisk{}}
	for _, r := range h.TenantsAtRisk {
		m.TenantsAtRisk = append(m.TenantsAtRisk, &tenantv1.TenantRisk{Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: r.TenantID}},
			Problem: r.Problem, ExpiresAt: ts(r.ExpiresAt), Message: r.Message})
	}
	return m
}
