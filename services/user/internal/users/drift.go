package users

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/o365gateway/gateway/services/shared/drift"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Drift compares a tenant's users with Microsoft and changes nothing:
// users only at Microsoft (adopt), users of the platform deleted at
// Microsoft (reported: a restore is the customer's decision), and managed
// users whose licenses or sign-in differ from the platform's (push).
func (s *Service) Drift(ctx context.Context, instanceID, tenantID string) ([]drift.Item, error) {
	remote, local, err := s.both(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	byUPN := map[string]*storage.User{}
	for _, u := range local {
		byUPN[strings.ToLower(u.Login)] = u
	}
	items := []drift.Item{}
	seen := map[string]bool{}
	for _, r := range remote {
		upn := strings.ToLower(r.UserPrincipalName)
		seen[upn] = true
		ms := msView(r)
		u, ok := byUPN[upn]
		switch {
		case !ok:
			items = append(items, drift.Item{Kind: drift.KindUser, MSID: r.ID, Problem: drift.MissingInPlatform, Microsoft: ms,
				Repair: drift.Adopt, Message: "created outside the platform; adopting registers it in the platform"})
		case u.MSUserID == "" || u.Op.Busy() || u.Imported:
			// being provisioned or changed, or adopted as it is
		case !slices.Equal(sorted(skusOf(r)), sorted(u.Assigned)):
			items = append(items, drift.Item{Kind: drift.KindUser, ResourceID: u.ID, MSID: r.ID, Problem: drift.LicensesDiffer,
				Platform: platformView(u), Microsoft: ms, Repair: drift.Push,
				Message: "the licenses at Microsoft differ from the platform's; pushing assigns and removes the difference"})
		case enabled(r) != u.AccountEnabled:
			items = append(items, drift.Item{Kind: drift.KindUser, ResourceID: u.ID, MSID: r.ID, Problem: drift.StateDiffers,
				Platform: platformView(u), Microsoft: ms, Repair: drift.Push, Message: "sign-in differs from the platform's"})
		}
	}
	for _, u := range local {
		if u.MSUserID != "" && !seen[strings.ToLower(u.Login)] && u.State != storage.StateDeleting && !u.Op.Busy() {
			items = append(items, drift.Item{Kind: drift.KindUser, ResourceID: u.ID, MSID: u.MSUserID, Problem: drift.MissingAtMicrosoft,
				Platform: platformView(u), Repair: drift.None,
				Message: "deleted at Microsoft: restore it there (deleted users stay restorable for 30 days) or unprovision it in the platform"})
		}
	}
	return items, nil
}

// RepairDrift repairs user items: adopt imports a user that exists only at
// Microsoft (its resource id derives from the Microsoft user, so it is
// never imported twice) and answers that id for registration; push starts
// a configure of the platform's user from what Microsoft holds now, whose
// job assigns and removes the difference exactly as a platform change does.
func (s *Service) RepairDrift(ctx context.Context, instanceID, tenantID string, items []drift.Item, dryRun bool) ([]drift.Item, error) {
	remote, local, err := s.both(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	_, t, _, err := s.tenantGraph(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	byMS := map[string]graph.User{}
	for _, r := range remote {
		byMS[strings.ToLower(r.ID)] = r
	}
	byID := map[string]*storage.User{}
	for _, u := range local {
		byID[u.ID] = u
	}
	out := make([]drift.Item, 0, len(items))
	for _, it := range items {
		if it.Kind != drift.KindUser {
			continue
		}
		r, atMS := byMS[strings.ToLower(it.MSID)]
		var err error
		switch {
		case it.Repair == drift.None || dryRun:
		case it.Repair == drift.Adopt && !atMS:
			err = errors.New("the user is no longer at Microsoft")
		case it.Repair == drift.Adopt:
			it.ResourceID, err = s.adopt(ctx, instanceID, tenantID, t.MSCustomerID, r)
		case it.Repair == drift.Push && byID[it.ResourceID] == nil:
			err = errors.New("the user is no longer in the platform")
		case it.Repair == drift.Push && !atMS:
			err = errors.New("the user is no longer at Microsoft")
		case it.Repair == drift.Push:
			err = s.push(ctx, byID[it.ResourceID], r)
		}
		it.Finish(dryRun, err)
		out = append(out, it)
	}
	return out, nil
}

// adopt imports a Microsoft user as a user of the gateway that no platform
// resource owns yet.
func (s *Service) adopt(ctx context.Context, instanceID, tenantID, customerID string, r graph.User) (string, error) {
	skus := skusOf(r)
	nu := &storage.User{ID: ImportedID(instanceID, tenantID, r.ID), InstanceID: instanceID, TenantID: tenantID, CustomerID: customerID,
		Login: strings.ToLower(r.UserPrincipalName), DisplayName: r.DisplayName, FirstName: r.GivenName, LastName: r.Surname,
		UsageLocation: r.UsageLocation, AccountEnabled: enabled(r), MSUserID: r.ID, Assigned: skus, Imported: true,
		Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Done}}
	for _, sku := range skus {
		nu.Licenses = append(nu.Licenses, storage.LicenseRef{SKUID: sku})
	}
	nu.State = stateOf(nu)
	if err := s.Store.Create(ctx, nu, nil); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return "", err
	}
	return nu.ID, nil
}

// push re-applies the platform's user: what Microsoft holds now is what
// the configure job starts from.
func (s *Service) push(ctx context.Context, u *storage.User, r graph.User) error {
	if u.Op.Busy() {
		return fmt.Errorf("an operation of the user is running; repair it when it has finished")
	}
	next := *u
	next.Assigned = skusOf(r)
	_, err := s.machine().Start(ctx, &next, lifecycle.Configure, true)
	return err
}

// both reads a tenant's users at Microsoft and in the gateway.
func (s *Service) both(ctx context.Context, instanceID, tenantID string) ([]graph.User, []*storage.User, error) {
	_, _, g, err := s.tenantGraph(ctx, instanceID, tenantID)
	if err != nil {
		return nil, nil, err
	}
	remote, err := g.ListUsers(ctx)
	if err != nil {
		return nil, nil, mserr.Sync(err, "list the tenant's users")
	}
	local, err := s.Store.ListByTenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, nil, err
	}
	return remote, local, nil
}

func skusOf(r graph.User) []string {
	out := []string{}
	for _, l := range r.AssignedLicenses {
		out = append(out, strings.ToLower(l.SKUID))
	}
	return out
}

func sorted(s []string) []string {
	c := append([]string{}, s...)
	slices.Sort(c)
	return c
}

func enabled(r graph.User) bool { return r.AccountEnabled == nil || *r.AccountEnabled }

func msView(r graph.User) map[string]any {
	return map[string]any{"user_principal_name": r.UserPrincipalName, "display_name": r.DisplayName,
		"account_enabled": enabled(r), "licenses": sorted(skusOf(r))}
}

func platformView(u *storage.User) map[string]any {
	return map[string]any{"login": u.Login, "display_name": u.DisplayName, "account_enabled": u.AccountEnabled,
		"licenses": sorted(u.Assigned)}
}
