package tenants_test

import (
	"context"
	"testing"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs/jobstest"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenanttest"
)

// account answers an account's data as accounts.Reader maps it: the
// platform's phone format, the state by name.
type account struct{ address storage.Address }

func (a account) Read(context.Context, *storage.Instance, apsmd.Request, string) (storage.Company, storage.Address, error) {
	return storage.Company{Name: "Contoso Ltd", Email: "admin@contoso.example"}, a.address, nil
}

// A tenant provisioned from an account in the platform's formats reaches
// Partner Center in Microsoft's: it was refused with InvalidAddress.
func TestProvisionFromPlatformAccountData(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.svc.Accounts = account{storage.Address{FirstName: "Ann", LastName: "Lee", AddressLine1: "1 Microsoft Way", City: "Redmond",
		State: "Washington", PostalCode: "98052", Country: "US", PhoneNumber: "1#425#5550100#"}}
	in := input(tenanttest.Subdomain())
	in.Address, in.AccountID = nil, "acc-1"
	in.MCA.PhoneNumber = "1#425#5550100#"
	f.provision(t, in)
	if out := f.drain(t); out != jobstest.Done {
		t.Fatalf("provisioning: %s", out)
	}
	tn := f.tenant(t, in.ID)
	if tn.Address.PhoneNumber != "4255550100" || tn.Address.State != "WA" || tn.MCA.PhoneNumber != "4255550100" || tn.MSCustomerID == "" {
		t.Fatalf("stored: address %+v, MCA %+v", tn.Address, tn.MCA)
	}
	pc, err := f.PartnerCenter(f.Inst)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pc.GetCustomer(ctx, tn.MSCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.BillingProfile.DefaultAddress; a.PhoneNumber != "4255550100" || a.State != "WA" {
		t.Fatalf("at Microsoft: %+v", a)
	}

	// A configure that re-sends the platform's form changes nothing.
	again := in
	again.Address = &tn.Address
	again.Address.PhoneNumber = "1#425#5550100#"
	again.MCA.PhoneNumber = "1#425#5550100#"
	v, err := f.svc.Configure(ctx, f.Request("sync"), in.ID, again)
	if err != nil || v.Running() {
		t.Fatalf("configure with the same data: %+v %v", v, err)
	}
}

// A ZIP code of another state is refused before Microsoft is asked, as
// Microsoft's address validation would refuse it.
func TestZIPCodeOfAnotherState(t *testing.T) {
	f := newFixture(t)
	in := input(tenanttest.Subdomain())
	in.Address.PostalCode = "10001" // New York
	_, err := f.svc.Provision(context.Background(), f.Request("sync"), in)
	wantReason(t, err, apierr.InvalidAddress, 400)
	if n := len(f.Requests.Match("POST", "/v1/validations/address")); n != 0 {
		t.Fatalf("%d address validations sent", n)
	}
}
