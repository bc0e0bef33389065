package mscloud

import (
	"encoding/json"
	"net/http"
	"time"
)

// The admin API under /_sim/ (JSON in and out) drives the simulator from
// tests and by operators. It has no authentication: bind the simulator to
// loopback. Endpoints that act on one part's state are that part's
// methods (entra.go, entra_secrets.go, pc_admin.go, graph_admin.go,
// graph_gdap.go); the shared ones (faults, clock, settings, DNS, state)
// are here and in dns.go.

func (s *Server) registerAdmin() {
	m := s.adminMux
	m.HandleFunc("GET /_sim", s.adminDescribe)
	m.HandleFunc("GET /_sim/{$}", s.adminDescribe)
	m.HandleFunc("POST /_sim/partners", s.entra.adminCreatePartner)
	m.HandleFunc("POST /_sim/partners/{partnerTenantId}/customers", s.pc.adminCreateCustomer)
	m.HandleFunc("POST /_sim/faults", s.adminAddFault)
	m.HandleFunc("GET /_sim/faults", s.adminListFaults)
	m.HandleFunc("DELETE /_sim/faults", s.adminClearFaults)
	m.HandleFunc("DELETE /_sim/faults/{id}", s.adminDeleteFault)
	m.HandleFunc("GET /_sim/state", s.adminState)
	m.HandleFunc("GET /_sim/clock", s.adminGetClock)
	m.HandleFunc("POST /_sim/clock", s.adminAdvanceClock)
	m.HandleFunc("GET /_sim/settings", s.adminGetSettings)
	m.HandleFunc("POST /_sim/settings", s.adminSetSettings)
	m.HandleFunc("POST /_sim/dns", s.adminPublishDNS)
	m.HandleFunc("GET /_sim/dns", s.adminListDNS)
	m.HandleFunc("POST /_sim/partners/{partnerTenantId}/secrets", s.entra.adminAddSecret)
	s.graph.registerAdminGraph(m)
	s.graph.registerAdminGDAP(m)
	m.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		if methodAllowedElsewhere(m, r, "/_sim/") {
			adminError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not supported on "+r.URL.Path)
			return
		}
		adminError(w, http.StatusNotFound, "no admin endpoint at "+r.URL.Path+"; GET /_sim/ lists them")
	})
}

func adminError(w http.ResponseWriter, status int, msg string) {
	jsonResponse(status, map[string]string{"error": msg}).writeTo(w)
}

func adminJSON(w http.ResponseWriter, status int, v any) { jsonResponse(status, v).writeTo(w) }

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// GET /_sim/: what the simulator serves, per cloud profile.
func (s *Server) adminDescribe(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	clouds := map[string]any{}
	for _, name := range cloudNames {
		c := cloudProfiles[name]
		clouds[name] = map[string]any{
			"login_authority":         base,
			"partner_center_url":      base,
			"graph_url":               base + "/v1.0",
			"partner_center_audience": c.PartnerCenterAudience,
			"graph_audience":          c.GraphAudience,
			"partner_center_scope":    c.PartnerCenterAudience + "/.default",
			"graph_scope":             c.GraphAudience + "/.default",
			"initial_domain_suffix":   c.InitialDomainSuffix,
			"stands_in_for": map[string]string{
				"login": c.RealLoginHost, "partner_center": c.RealPartnerCenterHost, "graph": c.RealGraphHost,
			},
		}
	}
	adminJSON(w, http.StatusOK, map[string]any{
		"name":                          "mscloud simulator (Microsoft Entra token endpoint, Partner Center, Microsoft Graph)",
		"base_url":                      base,
		"admin_url":                     base + "/_sim/",
		"token_endpoint_template":       base + "/{tenant}/oauth2/v2.0/token",
		"openid_configuration_template": base + "/{tenant}/v2.0/.well-known/openid-configuration",
		"clouds":                        clouds,
		"admin_endpoints": []string{
			"POST /_sim/partners", "POST /_sim/partners/{partnerTenantId}/customers", "POST /_sim/faults", "GET /_sim/faults", "DELETE /_sim/faults", "DELETE /_sim/faults/{id}",
			"GET /_sim/state", "GET /_sim/clock", "POST /_sim/clock", "GET /_sim/settings", "POST /_sim/settings",
			"POST /_sim/dns", "GET /_sim/dns", "POST /_sim/customers/{id}/users",
			"POST /_sim/partners/{partnerTenantId}/secrets", "POST /_sim/gdap/{relationshipId}/approve",
		},
	})
}

func (s *Server) adminAddFault(w http.ResponseWriter, r *http.Request) {
	var f fault
	if !decodeAdmin(w, r, &f) {
		return
	}
	f.ID, f.Hits, f.Remaining = "", 0, nil
	if msg := f.validate(); msg != "" {
		adminError(w, http.StatusBadRequest, msg)
		return
	}
	s.faults.add(&f)
	adminJSON(w, http.StatusCreated, map[string]string{"id": f.ID})
}

func (s *Server) adminListFaults(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, map[string]any{"faults": s.faults.snapshot()})
}

func (s *Server) adminClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.faults.clear()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminDeleteFault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.faults.remove(id) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	adminError(w, http.StatusNotFound, "no fault with id "+id)
}

type stateCustomer struct {
	ID          string    `json:"id"`
	Domain      string    `json:"domain"`
	CompanyName string    `json:"company_name"`
	Country     string    `json:"country"`
	MCAAttested bool      `json:"mca_attested"`
	CreatedAt   time.Time `json:"created_at"`
}

type statePartner struct {
	TenantID      string              `json:"tenant_id"`
	Name          string              `json:"name"`
	Cloud         string              `json:"cloud"`
	Sandbox       bool                `json:"sandbox"`
	Countries     []string            `json:"countries"`
	ClientID      string              `json:"client_id"`
	CreatedAt     time.Time           `json:"created_at"`
	Customers     []stateCustomer     `json:"customers"`
	Orders        []stateOrder        `json:"orders"`
	Subscriptions []stateSubscription `json:"subscriptions"`
	Carts         []stateCart         `json:"carts"`
	Users         []stateUser         `json:"users"`
	Domains       []stateDomain       `json:"domains"`
	// GraphThrottled counts the Graph 429 answers the partner's app got,
	// GraphWrites the Graph writes it made (past throttling).
	GraphThrottled int `json:"graph_throttled"`
	GraphWrites    int `json:"graph_writes"`
	// PCCalls counts the partner's Partner Center calls that passed
	// throttling, PCThrottled the 429s of its rate limits.
	PCCalls     int `json:"pc_calls"`
	PCThrottled int `json:"pc_throttled"`
	// GDAP relationships (graph_gdap.go) and the app's client secrets
	// without their values (entra_secrets.go).
	GDAP          []stateGDAP   `json:"gdap"`
	ClientSecrets []stateSecret `json:"client_secrets"`
}

// GET /_sim/state[?partner=<tenant_id>]: one consistent picture, taken
// with the three part locks held (lockParts).
func (s *Server) adminState(w http.ResponseWriter, r *http.Request) {
	filter := lower(r.URL.Query().Get("partner"))
	now := s.clock.Now()
	unlock := s.lockParts()
	defer unlock()
	if filter != "" && s.entra.partners[filter] == nil {
		adminError(w, http.StatusNotFound, "no partner with tenant_id "+filter)
		return
	}
	out := []statePartner{}
	for _, p := range s.entra.order {
		if filter != "" && p.TenantID != filter {
			continue
		}
		sp := statePartner{
			TenantID: p.TenantID, Name: p.Name, Cloud: p.Cloud.Name, Sandbox: p.Sandbox, Countries: p.Countries,
			ClientID: p.ClientID, CreatedAt: p.CreatedAt, Customers: []stateCustomer{},
			Orders: []stateOrder{}, Subscriptions: []stateSubscription{}, Carts: []stateCart{}, Users: []stateUser{}, Domains: []stateDomain{},
			GraphThrottled: s.budgets.throttledCount(p.TenantID), GDAP: s.graph.gdapState(p, now), ClientSecrets: s.entra.secretState(p, now),
		}
		sp.GraphWrites = s.budgets.writeCount(p.TenantID)
		sp.PCCalls, sp.PCThrottled = s.buckets.counts(p.TenantID)
		for _, c := range s.pc.byPartner[p.TenantID] {
			sp.Customers = append(sp.Customers, stateCustomer{
				ID: c.ID, Domain: c.Domain, CompanyName: c.CompanyName, Country: c.Billing.DefaultAddress.Country,
				MCAAttested: c.MCAAttested, CreatedAt: c.CreatedAt,
			})
			s.pc.settle(c, now)
			s.pc.appendCommerceState(&sp, c, now)
			s.graph.appendDirectoryState(&sp, c.ID)
		}
		out = append(out, sp)
	}
	adminJSON(w, http.StatusOK, map[string]any{"partners": out})
}

func (s *Server) adminGetClock(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, map[string]string{"now": s.clock.Now().Format(time.RFC3339)})
}

// POST /_sim/clock {"advance":"168h"} moves the clock forward only.
func (s *Server) adminAdvanceClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Advance string `json:"advance"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	d, err := time.ParseDuration(in.Advance)
	if err != nil {
		adminError(w, http.StatusBadRequest, `advance must be a Go duration such as "168h" or "90s"`)
		return
	}
	if err := s.clock.Advance(d); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.adminGetClock(w, r)
}

type settingsView struct {
	RequestIDReplay        bool    `json:"request_id_replay"`
	ThrottlePartnerRPS     float64 `json:"throttle_partner_rps"`
	ThrottleCustomerRPS    float64 `json:"throttle_customer_rps"`
	ThrottlePurchaseRPS    float64 `json:"throttle_purchase_rps"`
	TokenLifetimeSeconds   int     `json:"token_lifetime_seconds"`
	OrderCompletionSeconds int     `json:"order_completion_seconds"`
	SlowPatchSeconds       int     `json:"slow_patch_seconds"`
	// Graph.
	CustomerPropagationSeconds int     `json:"customer_propagation_seconds"`
	UsageLocationLagMS         int     `json:"usage_location_lag_ms"`
	GraphWriteLimit            int     `json:"graph_write_limit"`
	GraphWriteWindowSeconds    int     `json:"graph_write_window_seconds"`
	GraphRUScale               float64 `json:"graph_ru_scale"`
	RequireAppConsent          bool    `json:"require_app_consent"`
}

func (s *Server) settingsView() settingsView {
	st := s.settings.get()
	return settingsView{
		RequestIDReplay: st.Replay, ThrottlePartnerRPS: st.PartnerRPS,
		ThrottleCustomerRPS: st.CustomerRPS, ThrottlePurchaseRPS: st.PurchaseRPS,
		TokenLifetimeSeconds:       int(st.TokenLifetime / time.Second),
		OrderCompletionSeconds:     int(st.OrderCompletion / time.Second),
		SlowPatchSeconds:           int(st.SlowPatch / time.Second),
		CustomerPropagationSeconds: int(st.CustomerPropagation / time.Second),
		UsageLocationLagMS:         int(st.UsageLocationLag / time.Millisecond),
		GraphWriteLimit:            st.GraphWriteLimit,
		GraphWriteWindowSeconds:    int(st.GraphWriteWindow / time.Second),
		GraphRUScale:               st.GraphRUScale,
		RequireAppConsent:          st.RequireAppConsent,
	}
}

func (s *Server) adminGetSettings(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, s.settingsView())
}

// POST /_sim/settings changes only the fields present. Rates are requests
// per second; 0 means unlimited.
func (s *Server) adminSetSettings(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RequestIDReplay            *bool    `json:"request_id_replay"`
		ThrottlePartnerRPS         *float64 `json:"throttle_partner_rps"`
		ThrottleCustomerRPS        *float64 `json:"throttle_customer_rps"`
		ThrottlePurchaseRPS        *float64 `json:"throttle_purchase_rps"`
		TokenLifetimeSeconds       *int     `json:"token_lifetime_seconds"`
		OrderCompletionSeconds     *int     `json:"order_completion_seconds"`
		SlowPatchSeconds           *int     `json:"slow_patch_seconds"`
		CustomerPropagationSeconds *int     `json:"customer_propagation_seconds"`
		UsageLocationLagMS         *int     `json:"usage_location_lag_ms"`
		GraphWriteLimit            *int     `json:"graph_write_limit"`
		GraphWriteWindowSeconds    *int     `json:"graph_write_window_seconds"`
		GraphRUScale               *float64 `json:"graph_ru_scale"`
		RequireAppConsent          *bool    `json:"require_app_consent"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	switch {
	case in.CustomerPropagationSeconds != nil && (*in.CustomerPropagationSeconds < 0 || *in.CustomerPropagationSeconds > 86400):
		adminError(w, http.StatusBadRequest, "customer_propagation_seconds must be between 0 and 86400")
		return
	case in.UsageLocationLagMS != nil && (*in.UsageLocationLagMS < 0 || *in.UsageLocationLagMS > 600000):
		adminError(w, http.StatusBadRequest, "usage_location_lag_ms must be between 0 and 600000")
		return
	case in.GraphWriteLimit != nil && (*in.GraphWriteLimit < 1 || *in.GraphWriteLimit > 1000000):
		adminError(w, http.StatusBadRequest, "graph_write_limit must be between 1 and 1000000")
		return
	case in.GraphWriteWindowSeconds != nil && (*in.GraphWriteWindowSeconds < 1 || *in.GraphWriteWindowSeconds > 86400):
		adminError(w, http.StatusBadRequest, "graph_write_window_seconds must be between 1 and 86400")
		return
	case in.GraphRUScale != nil && (!(*in.GraphRUScale > 0) || *in.GraphRUScale > 1000):
		adminError(w, http.StatusBadRequest, "graph_ru_scale must be > 0 and <= 1000")
		return
	}
	const maxDelaySeconds = 30 * 24 * 3600
	if (in.OrderCompletionSeconds != nil && (*in.OrderCompletionSeconds < 0 || *in.OrderCompletionSeconds > maxDelaySeconds)) ||
		(in.SlowPatchSeconds != nil && (*in.SlowPatchSeconds < 0 || *in.SlowPatchSeconds > maxDelaySeconds)) {
		adminError(w, http.StatusBadRequest, "order_completion_seconds and slow_patch_seconds must be between 0 and 2592000")
		return
	}
	if (in.ThrottlePartnerRPS != nil && *in.ThrottlePartnerRPS < 0) || (in.ThrottleCustomerRPS != nil && *in.ThrottleCustomerRPS < 0) ||
		(in.ThrottlePurchaseRPS != nil && *in.ThrottlePurchaseRPS < 0) {
		adminError(w, http.StatusBadRequest, "throttle rates must be >= 0 (0 = unlimited)")
		return
	}
	if in.TokenLifetimeSeconds != nil && (*in.TokenLifetimeSeconds < 1 || *in.TokenLifetimeSeconds > 86400) {
		adminError(w, http.StatusBadRequest, "token_lifetime_seconds must be between 1 and 86400")
		return
	}
	s.settings.update(func(st *settings) {
		if in.RequestIDReplay != nil {
			st.Replay = *in.RequestIDReplay
		}
		if in.ThrottlePartnerRPS != nil {
			st.PartnerRPS = *in.ThrottlePartnerRPS
		}
		if in.ThrottleCustomerRPS != nil {
			st.CustomerRPS = *in.ThrottleCustomerRPS
		}
		if in.ThrottlePurchaseRPS != nil {
			st.PurchaseRPS = *in.ThrottlePurchaseRPS
		}
		if in.OrderCompletionSeconds != nil {
			st.OrderCompletion = time.Duration(*in.OrderCompletionSeconds) * time.Second
		}
		if in.SlowPatchSeconds != nil {
			st.SlowPatch = time.Duration(*in.SlowPatchSeconds) * time.Second
		}
		if in.TokenLifetimeSeconds != nil {
			st.TokenLifetime = time.Duration(*in.TokenLifetimeSeconds) * time.Second
		}
		if in.CustomerPropagationSeconds != nil {
			st.CustomerPropagation = time.Duration(*in.CustomerPropagationSeconds) * time.Second
		}
		if in.UsageLocationLagMS != nil {
			st.UsageLocationLag = time.Duration(*in.UsageLocationLagMS) * time.Millisecond
		}
		if in.GraphWriteLimit != nil {
			st.GraphWriteLimit = *in.GraphWriteLimit
		}
		if in.GraphWriteWindowSeconds != nil {
			st.GraphWriteWindow = time.Duration(*in.GraphWriteWindowSeconds) * time.Second
		}
		if in.GraphRUScale != nil {
			st.GraphRUScale = *in.GraphRUScale
		}
		if in.RequireAppConsent != nil {
			st.RequireAppConsent = *in.RequireAppConsent
		}
	})
	if in.ThrottlePartnerRPS != nil || in.ThrottleCustomerRPS != nil || in.ThrottlePurchaseRPS != nil {
		s.buckets.reset()
	}
	if in.GraphWriteLimit != nil || in.GraphWriteWindowSeconds != nil || in.GraphRUScale != nil {
		s.budgets.reset() // new limits start with fresh windows
	}
	adminJSON(w, http.StatusOK, s.settingsView())
}
