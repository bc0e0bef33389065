package mscloud

import (
	"net/http"
	"sync"
)

// The Microsoft Graph part: the Entra directory of every customer tenant
// (users, domains, license assignments; graph_tenants.go,
// graph_directory.go) and the partners' GDAP relationships
// (graph_gdap.go). Its lock sits between the other two parts
// (lockorder.go): Partner Center may call it with its own lock held;
// Graph may call Entra with s.mu held but calls Partner Center only
// before taking s.mu (tenantRoute, adminCreateUser).
//
// What the Graph part offers the others (each method takes s.mu):
// addTenant, removeTenant and setOrg keep the tenants in step with
// Partner Center's customers; heldLicenses and moveLicenses are the
// directory's half of license seats (licensing.go); gdapCovers answers
// Partner Center's delegated-access checks; tenantByVerifiedDomain lets
// login resolve a custom domain.

// graphService is the state of the Graph part, guarded by mu.
type graphService struct {
	clock    *Clock
	settings *settingsStore
	budgets  *graphBudgets
	dns      *dnsZone
	entra    *entraService // tokens, the partner's application; may be called with s.mu held
	pc       *pcService    // commerce seats; never called with s.mu held (order pc → graph)
	mux      *http.ServeMux

	mu      sync.Mutex
	tenants map[string]*graphTenant        // customer tenants by id
	gdap    map[string][]*gdapRelationship // by partner tenant id, creation order
}

func newGraphService(clock *Clock, st *settingsStore, budgets *graphBudgets, dns *dnsZone, entra *entraService, mux *http.ServeMux) *graphService {
	return &graphService{
		clock: clock, settings: st, budgets: budgets, dns: dns, entra: entra, mux: mux,
		tenants: map[string]*graphTenant{}, gdap: map[string][]*gdapRelationship{},
	}
}

// locked runs h with s.mu held (routes on Graph state only, e.g. GDAP).
func (s *graphService) locked(h apiHandler) apiHandler {
	return func(r *http.Request, c *apiCall) *response {
		s.mu.Lock()
		defer s.mu.Unlock()
		return h(r, c)
	}
}
