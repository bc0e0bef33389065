package apsc

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DemoOptions configure RunDemo.
type DemoOptions struct {
	// FacadeURL is the facade's base URL, e.g. https://127.0.0.1:8443/aps/.
	FacadeURL string
	// FacadeCAPool verifies the facade's certificate; nil skips verification.
	FacadeCAPool *x509.CertPool
	// SimURL is the Microsoft simulator's base URL, e.g. https://127.0.0.1:9443.
	SimURL string
	// SimCAPEM is the simulator's CA certificate; nil skips verification.
	SimCAPEM []byte
	// Partner is a partner already registered at the simulator; nil
	// registers a new demo partner.
	Partner *Partner
	// Subdomain is the tenant's initial subdomain; empty picks a random one.
	Subdomain string
	// MaxRetryWait caps the waits between async re-sends (0 obeys the facade).
	MaxRetryWait time.Duration
	// CADir keeps the controller's CA (Options.CADir).
	CADir string
	// Out receives the demo's readable output (nil discards it).
	Out io.Writer
	// Life adds the tenant's life after provisioning (package 1.1): the
	// credential health, a drift found and repaired, and an import.
	Life bool
	// Logger receives the controller's debug records (nil discards them).
	Logger *slog.Logger
}

// demoSteps is the number of numbered steps RunDemo prints (without the
// steps of DemoOptions.Life).
const demoSteps = 14

type demo struct {
	opts DemoOptions
	out  io.Writer
	step int
}

func (d *demo) title(format string, args ...any) {
	d.step++
	total := demoSteps
	if d.opts.Life {
		total += lifeSteps
	}
	fmt.Fprintf(d.out, "\n[%d/%d] %s\n", d.step, total, fmt.Sprintf(format, args...))
}

func (d *demo) info(format string, args ...any) {
	fmt.Fprintf(d.out, "      %s\n", fmt.Sprintf(format, args...))
}

// expect returns an error unless res's final status is one of codes.
func expect(what string, res *Result, codes ...int) error {
	if slices.Contains(codes, res.Status) {
		return nil
	}
	msg := fmt.Sprintf("%s: unexpected answer %d %s", what, res.Status, http.StatusText(res.Status))
	if ae := res.APSError(); ae != nil {
		msg += fmt.Sprintf(" (%s: %s)", firstNonEmpty(ae.Reason, ae.Type), ae.Message)
	} else if len(res.Body) > 0 {
		msg += ": " + truncate(string(res.Body), 300)
	}
	return errors.New(msg)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// RandomSubdomain returns a fresh subdomain like demo3kq9x7ab.
func RandomSubdomain(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// DemoOfferID is the new-commerce catalog item the demo buys (Microsoft 365
// Business Basic, monthly).
const DemoOfferID = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"

// DemoSettings are the instance's global settings for a partner.
func DemoSettings(p *Partner) map[string]any {
	s := map[string]any{
		"cloud":                  "global",
		"partner_tenant_id":      p.TenantID,
		"client_id":              p.ClientID,
		"client_secret":          p.ClientSecret,
		"reseller_mode":          "direct",
		"sales_countries":        []any{"US", "CA", "GB", "DE"},
		"test_partner":           true,
		"default_usage_location": "US",
	}
	return s
}

// DemoAccount is the platform account of the demo customer.
func DemoAccount(company string) map[string]any {
	return map[string]any{
		"companyName": company,
		"addressPostal": map[string]any{
			"streetAddress":   "1 Microsoft Way",
			"extendedAddress": "",
			"locality":        "Redmond",
			"region":          "WA",
			"postalCode":      "98052",
			"countryName":     "US",
		},
		"techContact": map[string]any{
			"email":      "ada.lovelace@example.com",
			"givenName":  "Ada",
			"familyName": "Lovelace",
			"telVoice":   "1#425#5550100#", // the platform's format: country#area#number#extension
		},
	}
}

// DemoTenant is the tenant resource the demo provisions.
func DemoTenant(subdomain, company, accountID string) map[string]any {
	return map[string]any{
		"initial_subdomain": subdomain,
		"company": map[string]any{
			"name":     company,
			"email":    "ada.lovelace@example.com",
			"culture":  "en-US",
			"language": "en",
		},
		"address": map[string]any{
			"first_name":    "Ada",
			"last_name":     "Lovelace",
			"address_line1": "1 Microsoft Way",
			"city":          "Redmond",
			"state":         "WA",
			"postal_code":   "98052",
			"country":       "US",
			"phone_number":  "4255550100",
		},
		"mca": map[string]any{
			"first_name":   "Ada",
			"last_name":    "Lovelace",
			"email":        "ada.lovelace@example.com",
			"phone_number": "4255550100",
			"date_agreed":  time.Now().UTC().Format(time.RFC3339),
		},
		"account": map[string]any{"aps": map[string]any{"id": accountID}},
	}
}

// RunDemo plays a scripted scenario against a running stack: it registers
// a demo partner at the Microsoft simulator, installs an application
// instance, checks a subdomain's availability, provisions a tenant through
// the sync and async phases, retrieves it, looks at the simulator's state
// and unprovisions the tenant. It returns an error on any unexpected answer.
func RunDemo(ctx context.Context, opts DemoOptions) error {
	d := &demo{opts: opts, out: opts.Out}
	if d.out == nil {
		d.out = io.Discard
	}
	if opts.FacadeURL == "" || opts.SimURL == "" {
		return errors.New("apsc demo: the facade URL and the simulator URL are required")
	}
	fmt.Fprintf(d.out, "APS controller emulator demo\n  facade:    %s\n  simulator: %s\n", opts.FacadeURL, opts.SimURL)

	sim, err := NewSimClient(opts.SimURL, opts.SimCAPEM)
	if err != nil {
		return err
	}

	// 1. Partner.
	d.title("Register a demo CSP partner at the Microsoft simulator")
	partner := opts.Partner
	if partner == nil {
		partner, err = sim.RegisterPartner(ctx, DemoPartnerRequest("Demo partner "+time.Now().Format("15:04:05")))
		if err != nil {
			return fmt.Errorf("register the demo partner: %w", err)
		}
		d.info("POST %s/_sim/partners → partner tenant %s, client id %s", sim.BaseURL, partner.TenantID, partner.ClientID)
	} else {
		d.info("using partner tenant %s, client id %s", partner.TenantID, partner.ClientID)
	}

	// 2. Controller.
	d.title("Start the APS controller emulator")
	ctrl, err := NewController(Options{
		FacadeURL:    opts.FacadeURL,
		FacadeCAPool: opts.FacadeCAPool,
		MaxRetryWait: opts.MaxRetryWait,
		CADir:        opts.CADir,
		Logger:       opts.Logger,
		Progress:     &indentWriter{w: d.out, prefix: "      "},
	})
	if err != nil {
		return err
	}
	if err := ctrl.Start(ctx); err != nil {
		return err
	}
	defer ctrl.Close()
	d.info("controller URI (APS-Controller-URI): %s", ctrl.ControllerURI())

	// 3. Instance.
	d.title("Install an application instance (POST /app with aps.x509)")
	inst, err := ctrl.Install(ctx, DemoSettings(partner))
	if err != nil {
		return fmt.Errorf("install the application instance: %w", err)
	}
	d.info("instance id (APS-Instance-ID): %s", inst.InstanceID)
	d.info("app resource id (aps.id):      %s", inst.AppID)

	// 4. Domain availability.
	sub := opts.Subdomain
	if sub == "" {
		sub = RandomSubdomain("demo")
	}
	d.title("Check that the subdomain %q is free (custom operation domainAvailability)", sub)
	res, err := ctrl.Operation(ctx, inst, http.MethodGet, "/app/"+inst.AppID+"/domainAvailability",
		url.Values{"subdomain": {sub}}, nil)
	if err != nil {
		return err
	}
	if err := expect("domainAvailability", res, http.StatusOK); err != nil {
		return err
	}
	var avail struct {
		Domain    string `json:"domain"`
		Available *bool  `json:"available"`
	}
	if err := res.Decode(&avail); err != nil || avail.Available == nil {
		return fmt.Errorf("domainAvailability: unexpected body %s", truncate(string(res.Body), 300))
	}
	if !*avail.Available {
		return fmt.Errorf("domainAvailability: %s is not available", avail.Domain)
	}
	d.info("%s is available", avail.Domain)

	// 5. Account.
	d.title("Add the customer's platform account to the controller")
	company := "Demo Company " + strings.TrimPrefix(sub, "demo")
	accountID := ctrl.AddResource(TypeAccount, DemoAccount(company))
	d.info("account %s (%s), served at %saps/2/resources/%s", accountID, company, ctrl.ControllerURI(), accountID)

	// 6. Tenant.
	d.title("Provision a tenant (POST /tenants), following the sync and async phases")
	callbacksBefore := len(ctrl.Requests())
	res, err = ctrl.Provision(ctx, inst, "tenants", DemoTenant(sub, company, accountID))
	if err != nil {
		return fmt.Errorf("provision the tenant: %w", err)
	}
	if err := expect("provision tenant", res, http.StatusOK, http.StatusCreated); err != nil {
		return err
	}
	tenantID := res.ResourceID
	tenant, _ := res.JSON()
	domain := stringProp(tenant, "domain_name")
	if domain == "" {
		domain = avail.Domain
	}
	d.info("tenant %s: state=%s domain_name=%s ms_customer_id=%s admin_login=%s",
		tenantID, show(tenant, "state"), show(tenant, "domain_name"),
		show(tenant, "ms_customer_id"), show(tenant, "admin_login"))
	if _, ok := tenant["admin_password"]; ok {
		d.info("admin_password returned once (not shown)")
	}
	d.info("%d exchange(s) with the facade, %d of them async re-sends", len(res.Trace), countAsync(res.Trace))
	for _, r := range ctrl.Requests()[callbacksBefore:] {
		d.info("the facade called back: %s %s → %d", r.Method, r.Path, r.Status)
	}

	// 7. Retrieve.
	d.title("Retrieve the tenant (GET /tenants/%s)", tenantID)
	res, err = ctrl.Retrieve(ctx, inst, "tenants", tenantID)
	if err != nil {
		return err
	}
	if err := expect("retrieve tenant", res, http.StatusOK); err != nil {
		return err
	}
	tenant, _ = res.JSON()
	d.info("state=%s domain_name=%s", show(tenant, "state"), show(tenant, "domain_name"))

	// 8-9. Seats.
	d.title("Buy 10 seats of Microsoft 365 Business Basic (POST /subscriptions, new commerce)")
	subBody := map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}},
		"offer_id": DemoOfferID, "licenses": map[string]any{"limit": 10}, "term_duration": "P1M", "billing_cycle": "monthly"}
	res, err = ctrl.Provision(ctx, inst, "subscriptions", subBody)
	if err != nil {
		return err
	}
	if err := expect("buy seats", res, http.StatusOK, http.StatusCreated); err != nil {
		return err
	}
	subID := res.ResourceID
	seats, _ := res.JSON()
	d.info("%d async re-send(s); ms_subscription_id=%s state=%s", countAsync(res.Trace), show(seats, "ms_subscription_id"), show(seats, "state"))

	d.title("Change the seats to 25 (PUT /subscriptions/%s)", subID)
	subBody["licenses"] = map[string]any{"limit": 25}
	res, err = ctrl.Configure(ctx, inst, "subscriptions", subID, subBody)
	if err != nil {
		return err
	}
	if err := expect("change seats", res, http.StatusOK); err != nil {
		return err
	}
	seats, _ = res.JSON()
	d.info("licenses=%s", show(seats, "licenses"))

	// 10. A custom domain.
	custom := strings.TrimPrefix(sub, "demo") + ".example"
	d.title("Add the custom domain %s and verify it (POST /domains, POST /domains/{id}/verify)", custom)
	res, err = ctrl.Provision(ctx, inst, "domains", map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}}, "domain_name": custom})
	if err != nil {
		return err
	}
	if err := expect("add domain", res, http.StatusOK); err != nil {
		return err
	}
	domainID := res.ResourceID
	dom, _ := res.JSON()
	txt := ""
	if recs, ok := dom["verification_records"].([]any); ok {
		for _, r := range recs {
			if m, ok := r.(map[string]any); ok && m["record_type"] == "Txt" {
				txt, _ = m["text"].(string)
			}
		}
	}
	d.info("publish TXT %q at %s (the simulator's DNS)", txt, custom)
	if err := sim.PublishDNS(ctx, custom, txt); err != nil {
		return err
	}
	res, err = ctrl.Operation(ctx, inst, http.MethodPost, "/domains/"+domainID+"/verify", nil, nil)
	if err != nil {
		return err
	}
	if err := expect("verify domain", res, http.StatusOK); err != nil {
		return err
	}
	d.info("%s is verified", custom)

	// 11. Users.
	d.title("Create 25 users on %s, each with a Business Basic license (POST /users)", custom)
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	sem := make(chan struct{}, 8)
	for i := range 25 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := ctrl.Provision(ctx, inst, "users", map[string]any{"tenant": map[string]any{"aps": map[string]any{"id": tenantID}},
				"login": fmt.Sprintf("user%02d@%s", i+1, custom), "first_name": "User", "last_name": fmt.Sprintf("%02d", i+1),
				"usage_location": "US", "licenses": []any{map[string]any{"subscription": map[string]any{"aps": map[string]any{"id": subID}}}}})
			if err == nil {
				err = expect("create user", r, http.StatusOK)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	res, err = ctrl.Retrieve(ctx, inst, "subscriptions", subID)
	if err == nil && res.Status == http.StatusOK {
		seats, _ = res.JSON()
		d.info("25 users created; the subscription's licenses are now %s", show(seats, "licenses"))
	}

	// 12. Simulator state.
	d.title("Look at the Microsoft simulator's state (GET /_sim/state)")
	state, err := sim.State(ctx)
	if err != nil {
		return err
	}
	if n, ok := CountCustomers(state, partner.TenantID); ok {
		d.info("the partner has %d customer(s) at Microsoft", n)
	}
	if !strings.Contains(strings.ToLower(string(state)), strings.ToLower(domain)) {
		return fmt.Errorf("the simulator's state does not show the customer %s", domain)
	}
	d.info("customer %s exists at Microsoft", domain)

	var imported string
	if opts.Life {
		if imported, err = d.lifeDemo(ctx, ctrl, sim, inst, partner, tenantID, stringProp(tenant, "ms_customer_id"), domain); err != nil {
			return err
		}
	}

	// 13. End the seats (inside the 7-day window: cancelled).
	d.title("Unprovision the subscription (DELETE /subscriptions/%s)", subID)
	res, err = ctrl.Unprovision(ctx, inst, "subscriptions", subID)
	if err != nil {
		return err
	}
	if err := expect("unprovision subscription", res, http.StatusNoContent, http.StatusOK); err != nil {
		return err
	}
	d.info("cancelled at Microsoft inside the cancellation window")

	// 14. Unprovision.
	d.title("Unprovision the tenant (DELETE /tenants/%s)", tenantID)
	for _, id := range []string{tenantID, imported} {
		if id == "" {
			continue
		}
		res, err = ctrl.Unprovision(ctx, inst, "tenants", id)
		if err != nil {
			return err
		}
		if err := expect("unprovision tenant", res, http.StatusNoContent, http.StatusOK); err != nil {
			return err
		}
	}
	if state, err := sim.State(ctx); err == nil {
		if n, ok := CountCustomers(state, partner.TenantID); ok {
			d.info("the partner now has %d customer(s) at Microsoft (sandbox partner: unprovisioned tenants are deleted)", n)
		}
	}

	fmt.Fprintf(d.out, "\nDemo passed: %d steps.\n", d.step)
	return nil
}

func countAsync(trace []Step) int {
	n := 0
	for _, s := range trace {
		if s.Phase == PhaseAsync {
			n++
		}
	}
	return n
}

func stringProp(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// show renders a property for the demo's output.
func show(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case nil:
		return "-"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// indentWriter prefixes every line written to it.
type indentWriter struct {
	w      io.Writer
	prefix string
	mid    bool
}

func (w *indentWriter) Write(p []byte) (int, error) {
	var b strings.Builder
	for _, c := range string(p) {
		if !w.mid {
			b.WriteString(w.prefix)
			w.mid = true
		}
		b.WriteRune(c)
		if c == '\n' {
			w.mid = false
		}
	}
	if _, err := io.WriteString(w.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
