package mscloud

import (
	"net/http"
	"sync"
	"time"
)

// The Partner Center part: customers with their profiles, agreements,
// application consents and commerce state (orders, carts, subscriptions,
// transitions); the catalog is static data (catalog_data.go). Its lock is
// the outermost of the three parts (lockorder.go): its handlers run with
// s.mu held and may call the Graph and Entra parts.
//
// What Partner Center tells the other parts, and when:
//   - the customer's directory (graphService) is created, renamed and
//     removed with the customer (addCustomer, PUT billing profile,
//     removeCustomer);
//   - Graph reads the commerce seats of a customer (tenantSeats) before it
//     takes its own lock;
//   - login reads a customer tenant's creation time and consents
//     (resolveCustomer).
//
// What it asks the other parts: the GDAP roles of a delegated caller
// (graphService.gdapCovers), the licenses the directory's users hold
// (graphService.heldLicenses) and, for upgrades and transitions with
// license transfer, to move them (graphService.moveLicenses); the partner
// named by an admin call (entraService.partner).

// pcService is the state of the Partner Center part, guarded by mu.
type pcService struct {
	clock    *Clock
	settings *settingsStore
	graph    *graphService // may be called with s.mu held (order pc → graph)
	entra    *entraService // may be called with s.mu held (order pc → entra)
	mux      *http.ServeMux

	mu        sync.Mutex
	customers map[string]*customer   // by tenant id
	domains   map[string]*customer   // by lower-case initial domain
	byPartner map[string][]*customer // by partner tenant id, creation order
}

func newPCService(clock *Clock, st *settingsStore, graph *graphService, entra *entraService, mux *http.ServeMux) *pcService {
	return &pcService{
		clock: clock, settings: st, graph: graph, entra: entra, mux: mux,
		customers: map[string]*customer{}, domains: map[string]*customer{}, byPartner: map[string][]*customer{},
	}
}

// serve runs the Partner Center handler for r with s.mu held.
func (s *pcService) serve(r *http.Request, c *apiCall) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return route(s.mux, r, c)
}

// addCustomer records a new customer of cu.Partner and creates its tenant
// in the directory. Caller holds s.mu.
func (s *pcService) addCustomer(cu *customer) {
	s.customers[cu.ID] = cu
	s.domains[cu.Domain] = cu
	s.byPartner[cu.Partner.TenantID] = append(s.byPartner[cu.Partner.TenantID], cu)
	s.graph.addTenant(tenantSeed{ID: cu.ID, Partner: cu.Partner, Domain: cu.Domain, CreatedAt: cu.CreatedAt, Org: tenantOrgOf(cu)})
}

// removeCustomer forgets cu and its tenant (the domain is free again).
// Caller holds s.mu.
func (s *pcService) removeCustomer(cu *customer) {
	delete(s.customers, cu.ID)
	delete(s.domains, cu.Domain)
	list := s.byPartner[cu.Partner.TenantID]
	for i, x := range list {
		if x == cu {
			s.byPartner[cu.Partner.TenantID] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	s.graph.removeTenant(cu.ID)
}

// tenantSeats settles customer id's commerce state to now and returns its
// seats for Graph (licensing.go); nil if there is no such customer. Graph
// calls it before taking its own lock.
func (s *pcService) tenantSeats(id string, now time.Time) *commerceSeats {
	s.mu.Lock()
	defer s.mu.Unlock()
	cu := s.customers[id]
	if cu == nil {
		return nil
	}
	s.settle(cu, now)
	return cu.seats()
}

// resolveCustomer finds a customer tenant by id or initial domain (key in
// lower case) for the token endpoint.
func (s *pcService) resolveCustomer(key string) (resolvedTenant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cu := s.customers[key]
	if cu == nil {
		cu = s.domains[key]
	}
	if cu == nil {
		return resolvedTenant{}, false
	}
	return resolvedTenant{Partner: cu.Partner, TenantID: cu.ID, customer: &loginCustomer{
		Domain: cu.Domain, CreatedAt: cu.CreatedAt, consented: cu.Consents[lower(cu.Partner.ClientID)] != nil,
	}}, true
}
