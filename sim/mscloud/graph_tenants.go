package mscloud

import (
	"slices"
	"strings"
	"time"
)

// The customer tenants as the Graph part knows them. Partner Center
// creates and removes a tenant with its customer and tells it when the
// billing profile changes the organisation (pc.go, pc_customers.go); the
// directory itself is made the first time anything looks at it
// (directory).

// tenantOrg is what the directory knows of the customer's organisation:
// its name and the billing contact who becomes the first global admin.
type tenantOrg struct {
	CompanyName    string
	AdminFirstName string
	AdminLastName  string
	Country        string
}

// tenantSeed is a new customer tenant, as Partner Center creates it.
type tenantSeed struct {
	ID        string
	Partner   *partner
	Domain    string // initial domain
	CreatedAt time.Time
	Org       tenantOrg
}

// graphTenant is a customer tenant as the Graph part keeps it. ID,
// Partner, Domain and CreatedAt are fixed; org and dir are guarded by
// graphService.mu.
type graphTenant struct {
	ID        string
	Partner   *partner
	Domain    string
	CreatedAt time.Time
	org       tenantOrg
	dir       *tenantDirectory // nil until first used
}

// directory returns t's directory, creating it on first use with the
// initial domain (verified, default) and the tenant's first global admin,
// admin@{initial domain}, the account Partner Center's create customer
// returns in userCredentials. Caller holds graphService.mu.
func (t *graphTenant) directory() *tenantDirectory {
	if t.dir != nil {
		return t.dir
	}
	d := &tenantDirectory{}
	d.domains = append(d.domains, &dirDomain{
		Name: t.Domain, Initial: true, Default: true, Verified: true,
		TXT: newDomainTXT(), MX: mxHostFor(t.Partner.Cloud, t.Domain), Created: t.CreatedAt,
	})
	display := strings.TrimSpace(t.org.AdminFirstName + " " + t.org.AdminLastName)
	if display == "" {
		display = "admin"
	}
	d.seq++
	d.users = append(d.users, &dirUser{
		ID: newGUID(), Seq: d.seq, UPN: "admin@" + t.Domain, DisplayName: display,
		GivenName: t.org.AdminFirstName, Surname: t.org.AdminLastName, MailNickname: "admin", AccountEnabled: true,
		UsageLocation: t.org.Country, locPrev: t.org.Country, Password: newPassword(), Created: t.CreatedAt,
	})
	t.dir = d
	return d
}

// held is the directory's half of t's license units (licensing.go): the
// SKUs live users hold, first-seen order, and the users holding each.
// Caller holds graphService.mu.
func (t *graphTenant) held() heldLicenses {
	h := heldLicenses{users: map[string]int{}}
	if t.dir == nil {
		return h
	}
	for _, u := range t.dir.users {
		var seen []string
		for _, l := range u.Licenses {
			if slices.Contains(seen, l.SkuID) {
				continue
			}
			seen = append(seen, l.SkuID)
			if h.users[l.SkuID] == 0 {
				h.order = append(h.order, l.SkuID)
			}
			h.users[l.SkuID]++
		}
	}
	return h
}

// --- for the other parts (each takes s.mu) ---

// addTenant records a new customer tenant (Partner Center's create
// customer).
func (s *graphService) addTenant(seed tenantSeed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[seed.ID] = &graphTenant{ID: seed.ID, Partner: seed.Partner, Domain: seed.Domain, CreatedAt: seed.CreatedAt, org: seed.Org}
}

// removeTenant forgets a tenant and its directory (Partner Center's
// delete customer): its domains are free again.
func (s *graphService) removeTenant(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tenants, id)
}

// setOrg updates what the tenant's directory knows of the organisation
// (Partner Center's billing profile update).
func (s *graphService) setOrg(id string, org tenantOrg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenants[id]; t != nil {
		t.org = org
	}
}

// heldLicenses is the directory's half of tenant id's license units.
func (s *graphService) heldLicenses(id string) heldLicenses {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenants[id]; t != nil {
		return t.held()
	}
	return heldLicenses{users: map[string]int{}}
}

// moveLicenses gives at most n live users of tenant id holding license SKU
// from the SKU to instead (creation order; without disabled plans; a user
// who already holds to just loses from) and returns how many it moved
// (Partner Center's upgrades and transitions with license transfer).
func (s *graphService) moveLicenses(id, from, to string, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[id]
	if t == nil || t.dir == nil {
		return 0
	}
	moved := 0
	for _, u := range t.dir.users {
		if moved == n {
			break
		}
		l := u.license(from)
		if l == nil {
			continue
		}
		if u.license(to) != nil {
			u.Licenses = slices.DeleteFunc(u.Licenses, func(x *userLicense) bool { return x == l })
		} else {
			l.SkuID, l.DisabledPlans = to, []string{}
		}
		moved++
	}
	return moved
}

// tenantByVerifiedDomain finds the tenant that verified a custom domain
// (a login authority may name it): its id, or "".
func (s *graphService) tenantByVerifiedDomain(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tenants {
		if t.dir != nil {
			if dm := t.dir.domain(name); dm != nil && dm.Verified {
				return t.ID
			}
		}
	}
	return ""
}
