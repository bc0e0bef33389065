// Package drift is the shared model of a drift report: the differences
// between the platform (the billing master) and Microsoft that each service
// finds for the resources it owns, and what repairing each one means.
// The tenant service assembles a tenant's report from its own items
// (tenant, domains) and those of the user and subscription services, and
// hands each service back the items it owns to repair.
package drift

import (
	"google.golang.org/protobuf/types/known/structpb"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
)

// Kinds of item.
const (
	KindUser         = "user"
	KindSubscription = "subscription"
	KindDomain       = "domain"
	KindTenant       = "tenant"
)

// Problems.
const (
	MissingAtMicrosoft = "MissingAtMicrosoft"
	MissingInPlatform  = "MissingInPlatform"
	QuantityDiffers    = "QuantityDiffers"
	LicensesDiffer     = "LicensesDiffer"
	StateDiffers       = "StateDiffers"
	ConsentMissing     = "ConsentMissing"
	GdapMissing        = "GdapMissing"
)

// Repairs.
const (
	// Push makes Microsoft match the platform.
	Push = "push"
	// Adopt registers in the platform what exists only at Microsoft.
	Adopt = "adopt"
	// None: reported only.
	None = "none"
)

// Outcomes of a repair.
const (
	Done    = "done"
	Planned = "planned" // dry run
	Skipped = "skipped"
	Failed  = "failed"
)

// Item is one difference.
type Item struct {
	Kind       string         `json:"kind"`
	ResourceID string         `json:"resource,omitempty"`
	MSID       string         `json:"ms_id,omitempty"`
	Problem    string         `json:"problem"`
	Platform   map[string]any `json:"platform,omitempty"`
	Microsoft  map[string]any `json:"microsoft,omitempty"`
	Repair     string         `json:"repair"`
	// Commerce: the repair buys or cancels; only for items named.
	Commerce bool   `json:"commerce,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	Message  string `json:"message,omitempty"`
}

// Finish records the outcome of repairing it (Planned when dryRun and the
// repair would be made).
func (it *Item) Finish(dryRun bool, err error) {
	switch {
	case it.Repair == None:
		it.Outcome = Skipped
	case dryRun:
		it.Outcome = Planned
	case err != nil:
		it.Outcome, it.Message = Failed, err.Error()
	default:
		it.Outcome = Done
	}
}

// ToProto renders items.
func ToProto(items []Item) []*apsv1.DriftItem {
	out := make([]*apsv1.DriftItem, 0, len(items))
	for _, it := range items {
		m := &apsv1.DriftItem{Kind: it.Kind, MsId: it.MSID, Problem: it.Problem, Repair: it.Repair, Commerce: it.Commerce,
			Outcome: it.Outcome, Message: it.Message}
		if it.ResourceID != "" {
			m.Resource = &apsv1.Link{Aps: &apsv1.Ref{Id: it.ResourceID}}
		}
		if it.Platform != nil {
			m.Platform, _ = structpb.NewStruct(plain(it.Platform))
		}
		if it.Microsoft != nil {
			m.Microsoft, _ = structpb.NewStruct(plain(it.Microsoft))
		}
		out = append(out, m)
	}
	return out
}

// FromProto reads items.
func FromProto(ms []*apsv1.DriftItem) []Item {
	out := make([]Item, 0, len(ms))
	for _, m := range ms {
		it := Item{Kind: m.GetKind(), ResourceID: m.GetResource().GetAps().GetId(), MSID: m.GetMsId(), Problem: m.GetProblem(),
			Repair: m.GetRepair(), Commerce: m.GetCommerce(), Outcome: m.GetOutcome(), Message: m.GetMessage()}
		if m.GetPlatform() != nil {
			it.Platform = m.GetPlatform().AsMap()
		}
		if m.GetMicrosoft() != nil {
			it.Microsoft = m.GetMicrosoft().AsMap()
		}
		out = append(out, it)
	}
	return out
}

// plain turns typed slices into []any for structpb.
func plain(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			out[k] = l
		case int:
			out[k] = float64(x)
		case int64:
			out[k] = float64(x)
		case int32:
			out[k] = float64(x)
		default:
			out[k] = v
		}
	}
	return out
}
