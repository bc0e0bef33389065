package driftcheck

import (
	"testing"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/drift"
)

func TestSelectItems(t *testing.T) {
	all := []drift.Item{
		{Kind: drift.KindUser, MSID: "u-1", Repair: drift.Push},
		{Kind: drift.KindSubscription, MSID: "S-1", Repair: drift.Push, Commerce: true},
		{Kind: drift.KindDomain, MSID: "contoso.example", Repair: drift.Adopt},
	}
	ids := func(items []drift.Item) (out []string) {
		for _, it := range items {
			out = append(out, it.MSID)
		}
		return out
	}
	got, err := selectItems(all, nil)
	if err != nil || len(got) != 2 || got[0].MSID != "u-1" || got[1].MSID != "contoso.example" {
		t.Fatalf("all: purchases are left out unless named: %v %v", ids(got), err)
	}
	got, err = selectItems(all, []any{"s-1", float64(2), "2", "contoso.example", float64(0)})
	if err != nil || len(got) != 3 || got[0].MSID != "S-1" || got[1].MSID != "contoso.example" || got[2].MSID != "u-1" {
		t.Fatalf("named (index, id, numeric string; duplicates once): %v %v", ids(got), err)
	}
	// A purchase is named by its id, never by a position that another
	// check may have moved.
	for _, bad := range [][]any{{float64(1)}, {"1"}, {float64(3)}, {float64(-1)}, {float64(0.5)}, {"nope"}, {true}, {map[string]any{}}} {
		if _, err := selectItems(all, bad); apierr.From(err).Reason != apierr.InvalidRequest {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
