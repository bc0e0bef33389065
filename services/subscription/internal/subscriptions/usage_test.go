package subscriptions_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Seat usage is current right after a license change: the user service
// assigns licenses without telling this service, and the demo showed 0
// seats used right after assigning 25 (the count was cached for
// SUBSCRIPTION_USAGE_TTL).
func TestUsageIsCurrentAfterALicenseChange(t *testing.T) {
	f := newFixture(t)
	f.svc.UsageTTL = time.Hour
	ctx := context.Background()
	in := f.input(strings.ToLower(e3), 5)
	s := f.active(in)
	if s.SKUID == "" {
		t.Fatalf("no license SKU: %+v", s)
	}
	usage := func() int64 {
		t.Helper()
		v, err := f.svc.Get(ctx, f.inst.InstanceID, s.ID)
		if err != nil || v.Usage == nil {
			t.Fatalf("get: %+v %v", v, err)
		}
		return *v.Usage
	}
	if n := usage(); n != 0 {
		t.Fatalf("usage before any license: %d", n)
	}
	for _, u := range []string{"ann", "bob"} {
		f.sim.Admin("POST", "/_sim/customers/"+f.tenant.MSCustomerID+"/users", map[string]any{
			"user_principal_name": u + "@" + f.tenant.InitialDomain, "usage_location": "US", "licenses": []string{s.SKUID}}, nil)
	}
	if n := usage(); n != 2 {
		t.Fatalf("usage right after two licenses were assigned: %d, want 2", n)
	}
	// The completing answer of an operation shows it too.
	v, err := f.svc.Provision(ctx, f.request("async"), in)
	if err != nil || v.Usage == nil || *v.Usage != 2 {
		t.Fatalf("completing answer: %+v %v", v, err)
	}
}
