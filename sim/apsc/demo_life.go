package apsc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// lifeSteps is the number of numbered steps lifeDemo adds.
const lifeSteps = 3

// lifeDemo shows the tenant's life after provisioning: the instance's
// credential health, a drift found and repaired, and the import of a
// customer made outside the platform. It answers the imported tenant (to
// unprovision with the demo's own).
func (d *demo) lifeDemo(ctx context.Context, ctrl *Controller, sim *SimClient, inst *Instance, partner *Partner, tenantID, customerID, domain string) (string, error) {
	// Credential health.
	d.title("Check the instance's credential health (GET /app/%s/health?refresh=true)", inst.AppID)
	res, err := ctrl.Operation(ctx, inst, http.MethodGet, "/app/"+inst.AppID+"/health", url.Values{"refresh": {"true"}}, nil)
	if err != nil {
		return "", err
	}
	if err := expect("health", res, http.StatusOK); err != nil {
		return "", err
	}
	var h struct {
		TenantsAtRisk []struct {
			Problem string `json:"problem"`
		} `json:"tenants_at_risk"`
	}
	_ = json.Unmarshal(res.Body, &h)
	raw, _ := res.JSON()
	cred, _ := raw["credentials"].(map[string]any)
	d.info("credential: %s %s, expires %s; %d tenant(s) at risk (the new tenant's GDAP relationship awaits the customer's approval)",
		show(cred, "kind"), show(cred, "state"), show(cred, "expires_at"), len(h.TenantsAtRisk))

	// Drift.
	d.title("Find and repair drift (GET /tenants/%s/drift?refresh=true, POST .../repair)", tenantID)
	outsider := "outsider@" + domain
	if err := sim.CreateUser(ctx, customerID, outsider, "Created by the customer's admin"); err != nil {
		return "", err
	}
	d.info("the customer's admin created %s at Microsoft, outside the platform", outsider)
	res, err = ctrl.Operation(ctx, inst, http.MethodGet, "/tenants/"+tenantID+"/drift", url.Values{"refresh": {"true"}}, nil)
	if err != nil {
		return "", err
	}
	if err := expect("drift", res, http.StatusOK); err != nil {
		return "", err
	}
	var rep struct {
		Items []struct {
			Kind, Problem, Repair, Outcome, MSID string
			Microsoft                            map[string]any `json:"microsoft"`
		} `json:"items"`
	}
	if err := json.Unmarshal(res.Body, &rep); err != nil {
		return "", err
	}
	found := false
	for _, it := range rep.Items {
		d.info("drift: %s %s → %s", it.Kind, it.Problem, it.Repair)
		found = found || it.Microsoft["user_principal_name"] == outsider
	}
	if !found {
		return "", fmt.Errorf("the drift report does not show %s", outsider)
	}
	res, err = ctrl.Operation(ctx, inst, http.MethodPost, "/tenants/"+tenantID+"/repair", nil, map[string]any{"items": []any{}})
	if err != nil {
		return "", err
	}
	if err := expect("repair", res, http.StatusOK); err != nil {
		return "", err
	}
	_ = json.Unmarshal(res.Body, &rep)
	for _, it := range rep.Items {
		d.info("repaired: %s %s → %s", it.Kind, it.Problem, it.Outcome)
	}

	// Import.
	d.title("Import a customer made in the Partner Center portal (GET /app/%s/customers?managed=false)", inst.AppID)
	imported := RandomSubdomain("import") + ".onmicrosoft.com"
	id, err := sim.CreateCustomer(ctx, partner.TenantID, imported, "Imported Ltd", "US")
	if err != nil {
		return "", err
	}
	if err := sim.CreateUser(ctx, id, "olga@"+imported, "Olga"); err != nil {
		return "", err
	}
	res, err = ctrl.Operation(ctx, inst, http.MethodGet, "/app/"+inst.AppID+"/customers", url.Values{"managed": {"false"}}, nil)
	if err != nil {
		return "", err
	}
	if err := expect("customers", res, http.StatusOK); err != nil {
		return "", err
	}
	var list []map[string]any
	_ = json.Unmarshal(res.Body, &list)
	d.info("%d unmanaged customer(s) listed, among them %s", len(list), imported)
	t := DemoTenant("unused", "Imported Ltd", "")
	delete(t, "initial_subdomain")
	t["ms_customer_id"] = id
	res, err = ctrl.Provision(ctx, inst, "tenants", t)
	if err != nil {
		return "", err
	}
	if err := expect("link the customer", res, http.StatusOK); err != nil {
		return "", err
	}
	linked := res.ResourceID
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var logins []string
		for _, r := range ctrl.Registered(inst.InstanceID) {
			if l, _ := r["login"].(string); l != "" {
				logins = append(logins, l)
			}
		}
		for _, l := range logins {
			if l == "olga@"+imported {
				d.info("linked as tenant %s; its users were adopted and registered in the platform: %v", linked, logins)
				return linked, nil
			}
		}
		if time.Now().After(deadline) {
			return linked, fmt.Errorf("the imported customer's user was not registered in the platform")
		}
	}
}
