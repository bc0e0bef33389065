package users

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// ImportedID is the resource id of a user adopted from Microsoft: derived
// from the Microsoft user, so that concurrent synchronizations (on any
// replica) cannot import one user twice.
func ImportedID(instanceID, tenantID, msUserID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("o365gw:user:"+instanceID+"/"+tenantID+"/"+msUserID)).String()
}

// Difference is one user that differs between Microsoft and the gateway.
type Difference struct {
	Change, ID, Name, Detail string
}

// Sync imports the tenant's users created outside the platform and reports
// the differences. The platform stays the master of the users it manages:
// their drift is reported, not copied; imported users are adopted as they are.
func (s *Service) Sync(ctx context.Context, instanceID, tenantID string) ([]Difference, int, error) {
	_, t, g, err := s.tenantGraph(ctx, instanceID, tenantID)
	if err != nil {
		return nil, 0, err
	}
	remote, err := g.ListUsers(ctx)
	if err != nil {
		return nil, 0, mserr.Sync(err, "list the tenant's users")
	}
	local, err := s.Store.ListByTenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, 0, err
	}
	byUPN := map[string]*storage.User{}
	for _, u := range local {
		byUPN[strings.ToLower(u.Login)] = u
	}
	var diffs []Difference
	seen := map[string]bool{}
	for _, r := range remote {
		upn := strings.ToLower(r.UserPrincipalName)
		seen[upn] = true
		var skus []string
		for _, l := range r.AssignedLicenses {
			skus = append(skus, strings.ToLower(l.SKUID))
		}
		u, ok := byUPN[upn]
		if !ok {
			enabled := r.AccountEnabled == nil || *r.AccountEnabled
			nu := &storage.User{ID: ImportedID(instanceID, tenantID, r.ID), InstanceID: instanceID, TenantID: tenantID, CustomerID: t.MSCustomerID,
				Login: upn, DisplayName: r.DisplayName, FirstName: r.GivenName, LastName: r.Surname, UsageLocation: r.UsageLocation,
				AccountEnabled: enabled, MSUserID: r.ID, Assigned: skus, Imported: true,
				Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Done}}
			for _, sku := range skus {
				nu.Licenses = append(nu.Licenses, storage.LicenseRef{SKUID: sku})
			}
			nu.State = stateOf(nu)
			if err := s.Store.Create(ctx, nu, nil); errors.Is(err, storage.ErrAlreadyExists) {
				continue // a concurrent synchronization imported it first
			} else if err != nil {
				return nil, 0, err
			}
			diffs = append(diffs, Difference{Change: "imported", ID: nu.ID, Name: upn, Detail: fmt.Sprintf("%d license(s)", len(skus))})
			continue
		}
		if u.MSUserID == "" || u.Op.Busy() {
			continue
		}
		slices.Sort(skus)
		want := append([]string(nil), u.Assigned...)
		slices.Sort(want)
		if !slices.Equal(skus, want) {
			diffs = append(diffs, Difference{Change: "drift", ID: u.ID, Name: upn,
				Detail: fmt.Sprintf("licenses at Microsoft %v, managed %v; the next configure restores the managed ones", skus, want)})
		}
	}
	for _, u := range local {
		if u.MSUserID != "" && !seen[strings.ToLower(u.Login)] && u.State != storage.StateDeleting {
			diffs = append(diffs, Difference{Change: "missing", ID: u.ID, Name: u.Login, Detail: "deleted at Microsoft"})
		}
	}
	s.Log.InfoContext(ctx, "users synchronized", "tenant_id", tenantID, "differences", len(diffs))
	return diffs, len(remote), nil
}
