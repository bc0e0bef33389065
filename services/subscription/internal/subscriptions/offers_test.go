package subscriptions_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/logging"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/tenantclient"
	"github.com/o365gateway/gateway/services/shared/tenantclient/tenantclienttest"
	"github.com/o365gateway/gateway/sim/mscloud"
	"github.com/o365gateway/gateway/sim/mscloud/mscloudtest"

	"github.com/o365gateway/gateway/services/subscription/internal/catalog"
	"github.com/o365gateway/gateway/services/subscription/internal/subscriptions"
)

// The china cloud's catalog covers China: an instance of the china cloud
// lists the 21Vianet offers for CN, and no offers (an empty list, not an
// error) for a country its cloud does not sell in.
func TestChinaCloudOffers(t *testing.T) {
	sim := mscloudtest.Start(t, mscloud.Options{})
	var p mscloudtest.Partner
	sim.Admin("POST", "/_sim/partners", map[string]any{"name": "21Vianet CSP", "cloud": "china", "sandbox": true}, &p)
	base, _ := clouds.Lookup("china")
	log := logging.New(io.Discard, "error", "subscription")
	factory := &msclients.Factory{Endpoints: base.Override(sim.URL, sim.URL, sim.URL+"/v1.0"), Simulated: true, HTTP: sim.Client,
		MaxRetryDelay: 2 * time.Second, Log: log}
	inst := tenantclient.Instance{InstanceID: uuid.NewString(), AppID: uuid.NewString(), Cloud: "china", TestPartner: true,
		Credentials: msclients.Credentials{PartnerTenantID: p.TenantID, ClientID: p.ClientID, ClientSecret: secret.New(p.ClientSecret)}}
	inst.Credentials.InstanceID = inst.InstanceID
	tenants := &tenantclienttest.Fake{}
	tenants.AddInstance(inst)
	svc := &subscriptions.Service{Tenants: tenants, Catalog: &catalog.Catalog{TTL: time.Hour}, Log: log,
		PC: func(inst *tenantclient.Instance) (subscriptions.PartnerCenter, error) {
			return factory.PartnerCenter(inst.Credentials)
		}}
	req := apsmd.Request{InstanceID: inst.InstanceID}

	offers, err := svc.Offers(context.Background(), req, inst.AppID, "cn")
	if err != nil || len(offers) != 4 {
		t.Fatalf("CN: %d offers, %v", len(offers), err)
	}
	for _, o := range offers {
		if o.Kind != "legacy" || o.Max < 1 || o.Name == "" {
			t.Errorf("offer %+v", o)
		}
	}
	if offers, err := svc.Offers(context.Background(), req, inst.AppID, "US"); err != nil || len(offers) != 0 {
		t.Fatalf("US: %d offers, %v", len(offers), err)
	}
}
