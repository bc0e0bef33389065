// Package server is the subscription service's gRPC layer: conversions
// between messages and the domain package, nothing more.
package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	subscriptionv1 "github.com/o365gateway/gateway/gen/go/o365/subscription/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/lifecycle"

	"github.com/o365gateway/gateway/services/subscription/internal/subscriptions"
)

// TypeSubscription is the APS type of the resource.
const TypeSubscription = apsmd.TypeSubscription

// Server implements subscriptionv1.SubscriptionServiceServer.
type Server struct {
	subscriptionv1.UnimplementedSubscriptionServiceServer
	Subs *subscriptions.Service
}

func input(id string, m *subscriptionv1.Subscription) subscriptions.Input {
	if m == nil {
		m = &subscriptionv1.Subscription{}
	}
	if id == "" {
		id = m.GetAps().GetId()
	}
	in := subscriptions.Input{ID: id, TenantID: m.GetTenant().GetAps().GetId(), OfferID: m.GetOfferId(),
		TermDuration: m.GetTermDuration(), BillingCycle: m.GetBillingCycle(), ParentID: m.GetParent().GetAps().GetId(),
		AutoRenew: m.AutoRenew, Suspended: m.Suspended}
	if m.GetLicenses() != nil && m.GetLicenses().Limit != nil {
		l := int64(m.GetLicenses().GetLimit())
		in.Limit = &l
	}
	return in
}

func message(v *subscriptions.View) *subscriptionv1.Subscription {
	if v == nil || v.V == nil {
		return nil
	}
	s, status := v.V, v.Status()
	limit := int32(s.Quantity)
	var usage *int32
	if v.Usage != nil {
		u := int32(*v.Usage)
		usage = &u
	}
	autoRenew, suspended := s.AutoRenew, s.Suspended
	m := &subscriptionv1.Subscription{
		Aps:     &apsv1.Meta{Id: s.ID, Type: TypeSubscription, Status: status},
		Tenant:  &apsv1.Link{Aps: &apsv1.Ref{Id: s.TenantID}},
		OfferId: s.OfferID, Licenses: &apsv1.Counter{Limit: &limit, Usage: usage},
		TermDuration: s.TermDuration, BillingCycle: s.BillingCycle, AutoRenew: &autoRenew, Suspended: &suspended,
		MsSubscriptionId: s.MSSubscriptionID, MsOrderId: s.MSOrderID, State: s.State,
	}
	if s.ParentID != "" {
		m.Parent = &apsv1.Link{Aps: &apsv1.Ref{Id: s.ParentID}}
	}
	if s.CancellationUntil != nil {
		m.CancellationAllowedUntil = timestamppb.New(*s.CancellationUntil)
	}
	return m
}

func answer(ctx context.Context, v *subscriptions.View) error {
	if v == nil {
		return nil
	}
	return lifecycle.Header(ctx, v.Answer)
}

// ListOffers implements the RPC.
func (s *Server) ListOffers(ctx context.Context, r *subscriptionv1.ListOffersRequest) (*subscriptionv1.ListOffersResponse, error) {
	offers, err := s.Subs.Offers(ctx, apsmd.FromContext(ctx), r.GetId(), r.GetCountry())
	if err != nil {
		return nil, err
	}
	out := &subscriptionv1.ListOffersResponse{Offers: []*subscriptionv1.Offer{}}
	for _, o := range offers {
		addOn := o.IsAddOn
		out.Offers = append(out.Offers, &subscriptionv1.Offer{Id: o.ID, Name: o.Name, Kind: o.Kind, MinQuantity: int32(o.Min),
			MaxQuantity: int32(o.Max), Terms: o.Terms, BillingCycles: o.BillingCycles, IsAddOn: &addOn, ParentOffers: o.Parents,
			UpgradeTargets: o.Upgrades, SkuId: o.SKUID})
	}
	return out, nil
}

// ProvisionSubscription implements the RPC.
func (s *Server) ProvisionSubscription(ctx context.Context, r *subscriptionv1.ProvisionSubscriptionRequest) (*subscriptionv1.ProvisionSubscriptionResponse, error) {
	v, err := s.Subs.Provision(ctx, apsmd.FromContext(ctx), input("", r.GetSubscription()))
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.ProvisionSubscriptionResponse{Subscription: message(v)}, answer(ctx, v)
}

// GetSubscription implements the RPC.
func (s *Server) GetSubscription(ctx context.Context, r *subscriptionv1.GetSubscriptionRequest) (*subscriptionv1.GetSubscriptionResponse, error) {
	v, err := s.Subs.Get(ctx, apsmd.FromContext(ctx).InstanceID, r.GetId())
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.GetSubscriptionResponse{Subscription: message(v)}, nil
}

// ConfigureSubscription implements the RPC.
func (s *Server) ConfigureSubscription(ctx context.Context, r *subscriptionv1.ConfigureSubscriptionRequest) (*subscriptionv1.ConfigureSubscriptionResponse, error) {
	v, err := s.Subs.Configure(ctx, apsmd.FromContext(ctx), r.GetId(), input(r.GetId(), r.GetSubscription()))
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.ConfigureSubscriptionResponse{Subscription: message(v)}, answer(ctx, v)
}

// UnprovisionSubscription implements the RPC; an empty answer means done.
func (s *Server) UnprovisionSubscription(ctx context.Context, r *subscriptionv1.UnprovisionSubscriptionRequest) (*subscriptionv1.UnprovisionSubscriptionResponse, error) {
	v, err := s.Subs.Unprovision(ctx, apsmd.FromContext(ctx), r.GetId())
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.UnprovisionSubscriptionResponse{Subscription: message(v)}, answer(ctx, v)
}

// UpgradeSubscription implements the RPC.
func (s *Server) UpgradeSubscription(ctx context.Context, r *subscriptionv1.UpgradeSubscriptionRequest) (*subscriptionv1.UpgradeSubscriptionResponse, error) {
	if r.GetOfferId() == "" {
		return nil, apierr.Invalid("offer_id is required.")
	}
	v, err := s.Subs.Upgrade(ctx, apsmd.FromContext(ctx), r.GetId(), r.GetOfferId(), r.GetTransition())
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.UpgradeSubscriptionResponse{Subscription: message(v)}, answer(ctx, v)
}

// NotifySubscriptionLink acknowledges link notifications.
func (s *Server) NotifySubscriptionLink(ctx context.Context, r *subscriptionv1.NotifySubscriptionLinkRequest) (*subscriptionv1.NotifySubscriptionLinkResponse, error) {
	if _, err := s.Subs.Get(ctx, apsmd.FromContext(ctx).InstanceID, r.GetId()); err != nil {
		if r.GetOtherId() != "" && apierr.From(err).Reason == apierr.NotFound {
			return &subscriptionv1.NotifySubscriptionLinkResponse{}, nil
		}
		return nil, err
	}
	return &subscriptionv1.NotifySubscriptionLinkResponse{}, nil
}

// ResolveSubscription implements the RPC (the user service only).
func (s *Server) ResolveSubscription(ctx context.Context, r *subscriptionv1.ResolveSubscriptionRequest) (*subscriptionv1.ResolveSubscriptionResponse, error) {
	sub, sku, err := s.Subs.Resolve(ctx, r.GetInstanceId(), r.GetId())
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.ResolveSubscriptionResponse{SkuId: sku, TenantId: sub.TenantID, State: sub.State}, nil
}

// CheckSubscriptionDrift implements the RPC (tenant service only).
func (s *Server) CheckSubscriptionDrift(ctx context.Context, r *subscriptionv1.CheckSubscriptionDriftRequest) (*subscriptionv1.CheckSubscriptionDriftResponse, error) {
	items, err := s.Subs.Drift(ctx, r.GetInstanceId(), r.GetTenantId())
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.CheckSubscriptionDriftResponse{Items: drift.ToProto(items)}, nil
}

// RepairSubscriptionDrift implements the RPC (tenant service only).
func (s *Server) RepairSubscriptionDrift(ctx context.Context, r *subscriptionv1.RepairSubscriptionDriftRequest) (*subscriptionv1.RepairSubscriptionDriftResponse, error) {
	items, err := s.Subs.RepairDrift(ctx, r.GetInstanceId(), r.GetTenantId(), drift.FromProto(r.GetItems()), r.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &subscriptionv1.RepairSubscriptionDriftResponse{Items: drift.ToProto(items)}, nil
}
