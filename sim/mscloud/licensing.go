package mscloud

import (
	"maps"
	"slices"
)

// Seats: where commerce (Partner Center) and the directory (Graph) meet.
// The seats of a license SKU come from the customer's subscriptions
// (pcService); the consumed units from the directory's users holding the
// SKU (graphService) plus units recorded without a user (commerce, for
// tests of Partner Center alone). Each part contributes its half as a
// copy, and licenseUnits combines them, so neither part reads the other's
// state: Partner Center asks graphService.heldLicenses with its own lock
// held; Graph gets pcService.tenantSeats before it takes its lock.

// seatSub is one subscription as licensing sees it.
type seatSub struct {
	ID       string
	License  *licenseSku
	Status   string
	Quantity int
}

// commerceSeats is Partner Center's half: the customer's subscriptions in
// creation order and the units recorded without a user by license SKU.
type commerceSeats struct {
	Subs       []seatSub
	Unassigned map[string]int
}

// heldLicenses is the directory's half: the license SKUs live users hold,
// in first-seen order, and how many users hold each.
type heldLicenses struct {
	order []string
	users map[string]int
}

// skuUnits is one license SKU's totals derived from the subscriptions.
type skuUnits struct {
	License   *licenseSku
	Active    int
	Suspended int
	Consumed  int
}

// licenseUnits derives per-SKU totals: active subscriptions count as active
// units, suspended ones as suspended units; consumed units are the users
// holding the SKU plus the units recorded without a user. SKUs assigned
// without a live subscription still appear. Pending, deleted and expired
// subscriptions add nothing.
func licenseUnits(cs *commerceSeats, held heldLicenses) []*skuUnits {
	var out []*skuUnits
	byID := map[string]*skuUnits{}
	get := func(l *licenseSku) *skuUnits {
		u := byID[l.ID]
		if u == nil {
			u = &skuUnits{License: l}
			byID[l.ID] = u
			out = append(out, u)
		}
		return u
	}
	for _, sub := range cs.Subs {
		switch sub.Status {
		case subActive:
			get(sub.License).Active += sub.Quantity
		case subSuspended:
			get(sub.License).Suspended += sub.Quantity
		}
	}
	extra := slices.Clone(held.order)
	for _, id := range slices.Sorted(maps.Keys(cs.Unassigned)) {
		if cs.Unassigned[id] > 0 && !slices.Contains(extra, id) {
			extra = append(extra, id)
		}
	}
	for _, id := range extra {
		if byID[id] == nil && allLicenses[id] != nil {
			get(allLicenses[id])
		}
	}
	for _, u := range out {
		id := lower(u.License.ID)
		u.Consumed = held.users[id] + cs.Unassigned[id]
	}
	return out
}

// skuCapability is the capabilityStatus of a license SKU: "Suspended" when
// all its seats are suspended, else "Enabled" (Partner Center and Graph).
func skuCapability(u *skuUnits) string {
	if u.Active == 0 && u.Suspended > 0 {
		return "Suspended"
	}
	return "Enabled"
}
