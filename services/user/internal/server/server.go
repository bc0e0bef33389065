// Package server is the user service's gRPC layer: conversions between
// messages and the domain package, nothing more.
package server

import (
	"context"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/user/internal/storage"
	"github.com/o365gateway/gateway/services/user/internal/users"
)

// TypeUser is the APS type of the resource.
const TypeUser = apsmd.TypeUser

// Server implements userv1.UserServiceServer.
type Server struct {
	userv1.UnimplementedUserServiceServer
	Users *users.Service
}

func input(id string, m *userv1.User) users.Input {
	if m == nil {
		m = &userv1.User{}
	}
	if id == "" {
		id = m.GetAps().GetId()
	}
	in := users.Input{ID: id, TenantID: m.GetTenant().GetAps().GetId(), Login: m.GetLogin(), DisplayName: m.GetDisplayName(),
		FirstName: m.GetFirstName(), LastName: m.GetLastName(), UsageLocation: m.GetUsageLocation(),
		Password: secret.New(m.GetPassword()), AccountEnabled: m.AccountEnabled}
	for _, l := range m.GetLicenses() {
		in.Licenses = append(in.Licenses, storage.LicenseRef{SubscriptionID: l.GetSubscription().GetAps().GetId(), SKUID: l.GetSkuId()})
	}
	return in
}

// message renders a user; the initial password is opened only when the
// answer reveals it (the completing answer of a provisioning).
func (s *Server) message(v *users.View) (*userv1.User, error) {
	if v == nil || v.V == nil {
		return nil, nil
	}
	u := v.V
	enabled := u.AccountEnabled
	m := &userv1.User{Aps: &apsv1.Meta{Id: u.ID, Type: TypeUser, Status: v.Status()}, Tenant: &apsv1.Link{Aps: &apsv1.Ref{Id: u.TenantID}},
		Login: u.Login, DisplayName: u.DisplayName, FirstName: u.FirstName, LastName: u.LastName, UsageLocation: u.UsageLocation,
		AccountEnabled: &enabled, MsUserId: u.MSUserID, State: u.State, Licenses: []*userv1.UserLicense{}}
	for _, l := range u.Licenses {
		ul := &userv1.UserLicense{SkuId: l.SKUID}
		if l.SubscriptionID != "" {
			ul.Subscription = &apsv1.Link{Aps: &apsv1.Ref{Id: l.SubscriptionID}}
		}
		m.Licenses = append(m.Licenses, ul)
	}
	if v.Secret != "" {
		pw, err := s.Users.Sealer.Open(v.Secret, u.SealedAt(storage.SealedOpSecret))
		if err != nil {
			return nil, err
		}
		m.InitialPassword = pw.Reveal()
	}
	return m, nil
}

// ProvisionUser implements the RPC.
func (s *Server) ProvisionUser(ctx context.Context, r *userv1.ProvisionUserRequest) (*userv1.ProvisionUserResponse, error) {
	v, err := s.Users.Provision(ctx, apsmd.FromContext(ctx), input("", r.GetUser()))
	if err != nil {
		return nil, err
	}
	m, err := s.message(v)
	if err != nil {
		return nil, err
	}
	return &userv1.ProvisionUserResponse{User: m}, lifecycle.Header(ctx, v)
}

// GetUser implements the RPC.
func (s *Server) GetUser(ctx context.Context, r *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	v, err := s.Users.Get(ctx, apsmd.FromContext(ctx).InstanceID, r.GetId())
	if err != nil {
		return nil, err
	}
	m, err := s.message(v)
	if err != nil {
		return nil, err
	}
	return &userv1.GetUserResponse{User: m}, nil
}

// ConfigureUser implements the RPC.
func (s *Server) ConfigureUser(ctx context.Context, r *userv1.ConfigureUserRequest) (*userv1.ConfigureUserResponse, error) {
	v, err := s.Users.Configure(ctx, apsmd.FromContext(ctx), r.GetId(), input(r.GetId(), r.GetUser()))
	if err != nil {
		return nil, err
	}
	m, err := s.message(v)
	if err != nil {
		return nil, err
	}
	return &userv1.ConfigureUserResponse{User: m}, lifecycle.Header(ctx, v)
}

// UnprovisionUser implements the RPC; an empty answer means done.
func (s *Server) UnprovisionUser(ctx context.Context, r *userv1.UnprovisionUserRequest) (*userv1.UnprovisionUserResponse, error) {
	v, err := s.Users.Unprovision(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	m, err := s.message(v)
	if err != nil {
		return nil, err
	}
	return &userv1.UnprovisionUserResponse{User: m}, lifecycle.Header(ctx, v)
}

// ResetUserPassword implements the RPC.
func (s *Server) ResetUserPassword(ctx context.Context, r *userv1.ResetUserPasswordRequest) (*userv1.ResetUserPasswordResponse, error) {
	pw, err := s.Users.ResetPassword(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	return &userv1.ResetUserPasswordResponse{Password: pw}, nil
}

// NotifyUserLink acknowledges link notifications.
func (s *Server) NotifyUserLink(ctx context.Context, r *userv1.NotifyUserLinkRequest) (*userv1.NotifyUserLinkResponse, error) {
	if _, err := s.Users.Get(ctx, apsmd.FromContext(ctx).InstanceID, r.GetId()); err != nil {
		if r.GetOtherId() != "" && apierr.From(err).Reason == apierr.NotFound {
			return &userv1.NotifyUserLinkResponse{}, nil
		}
		return nil, err
	}
	return &userv1.NotifyUserLinkResponse{}, nil
}

// SyncUsers implements the RPC (the tenant service only).
func (s *Server) SyncUsers(ctx context.Context, r *userv1.SyncUsersRequest) (*userv1.SyncUsersResponse, error) {
	diffs, total, err := s.Users.Sync(ctx, r.GetInstanceId(), r.GetTenantId())
	if err != nil {
		return nil, err
	}
	out := &userv1.SyncUsersResponse{UsersTotal: int32(total)}
	for _, d := range diffs {
		out.Differences = append(out.Differences, &userv1.Difference{Change: d.Change, Id: d.ID, Name: d.Name, Detail: d.Detail})
	}
	return out, nil
}

// CheckUserDrift implements the RPC (tenant service only).
func (s *Server) CheckUserDrift(ctx context.Context, r *userv1.CheckUserDriftRequest) (*userv1.CheckUserDriftResponse, error) {
	items, err := s.Users.Drift(ctx, r.GetInstanceId(), r.GetTenantId())
	if err != nil {
		return nil, err
	}
	return &userv1.CheckUserDriftResponse{Items: drift.ToProto(items)}, nil
}

// RepairUserDrift implements the RPC (tenant service only).
func (s *Server) RepairUserDrift(ctx context.Context, r *userv1.RepairUserDriftRequest) (*userv1.RepairUserDriftResponse, error) {
	items, err := s.Users.RepairDrift(ctx, r.GetInstanceId(), r.GetTenantId(), drift.FromProto(r.GetItems()), r.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &userv1.RepairUserDriftResponse{Items: drift.ToProto(items)}, nil
}
