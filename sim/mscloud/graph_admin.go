package mscloud

import (
	"net/http"
	"slices"
	"strings"
)

// The admin API's Graph side: the directory entries of GET /_sim/state
// and users created outside the platform.

type stateUser struct {
	ID                string   `json:"id"`
	CustomerID        string   `json:"customer_id"`
	UserPrincipalName string   `json:"user_principal_name"`
	DisplayName       string   `json:"display_name"`
	AccountEnabled    bool     `json:"account_enabled"`
	UsageLocation     string   `json:"usage_location"`
	Licenses          []string `json:"licenses"`
}

type stateDomain struct {
	CustomerID string `json:"customer_id"`
	ID         string `json:"id"`
	IsVerified bool   `json:"is_verified"`
	IsInitial  bool   `json:"is_initial"`
}

// appendDirectoryState adds the live users and domains of customer tenant
// id. Caller holds s.mu.
func (s *graphService) appendDirectoryState(sp *statePartner, id string) {
	t := s.tenants[id]
	if t == nil {
		return
	}
	d := t.directory()
	for _, u := range d.users {
		su := stateUser{ID: u.ID, CustomerID: id, UserPrincipalName: u.UPN, DisplayName: u.DisplayName,
			AccountEnabled: u.AccountEnabled, UsageLocation: u.UsageLocation, Licenses: []string{}}
		for _, l := range u.Licenses {
			su.Licenses = append(su.Licenses, l.SkuID)
		}
		sp.Users = append(sp.Users, su)
	}
	for _, dm := range d.domains {
		sp.Domains = append(sp.Domains, stateDomain{CustomerID: id, ID: dm.Name, IsVerified: dm.Verified, IsInitial: dm.Initial})
	}
}

func (s *graphService) registerAdminGraph(adminMux *http.ServeMux) {
	adminMux.HandleFunc("POST /_sim/customers/{id}/users", s.adminCreateUser)
}

// POST /_sim/customers/{id}/users creates a user the way the customer's own
// admin would in the Microsoft 365 admin center, outside the gateway (sync
// tests). The same rules as POST /v1.0/users apply (verified UPN domain,
// unique UPN); password and mailNickname are generated when absent;
// licenses are assigned with the seat check but without the usage-location
// replication lag.
func (s *graphService) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserPrincipalName string   `json:"user_principal_name"`
		DisplayName       string   `json:"display_name"`
		GivenName         string   `json:"given_name"`
		Surname           string   `json:"surname"`
		MailNickname      string   `json:"mail_nickname"`
		UsageLocation     string   `json:"usage_location"`
		AccountEnabled    *bool    `json:"account_enabled"`
		Password          string   `json:"password"`
		Licenses          []string `json:"licenses"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	id := lower(r.PathValue("id"))
	now := s.clock.Now()
	seats := s.pc.tenantSeats(id, now) // Partner Center before Graph (lock order pc → graph)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[id]
	if seats == nil || t == nil {
		adminError(w, http.StatusNotFound, "no customer with id "+r.PathValue("id"))
		return
	}
	cu := &tenantCall{graphTenant: t, seats: seats}
	d := t.directory()
	nu := newUserInput{
		UPN: strings.TrimSpace(in.UserPrincipalName), DisplayName: strings.TrimSpace(in.DisplayName),
		GivenName: strings.TrimSpace(in.GivenName), Surname: strings.TrimSpace(in.Surname),
		MailNickname: strings.TrimSpace(in.MailNickname), UsageLocation: strings.ToUpper(strings.TrimSpace(in.UsageLocation)),
		AccountEnabled: in.AccountEnabled == nil || *in.AccountEnabled, Password: in.Password,
	}
	if nu.MailNickname == "" {
		nu.MailNickname, _, _ = strings.Cut(nu.UPN, "@")
	}
	if nu.DisplayName == "" {
		nu.DisplayName = nu.MailNickname
	}
	if nu.Password == "" {
		// Drawn again while it contains the alias, which Graph's rule refuses.
		local, _, _ := strings.Cut(nu.UPN, "@")
		for nu.Password == "" || !passwordOK(nu.Password, local) {
			nu.Password = newPassword()
		}
	}
	if msg := checkNewUser(d, &nu); msg != "" {
		adminError(w, http.StatusBadRequest, msg)
		return
	}
	var skus []string
	for _, id := range in.Licenses {
		l := cu.tenantLicense(id)
		if l == nil {
			adminError(w, http.StatusBadRequest, "License "+id+" does not correspond to a valid company License.")
			return
		}
		if slices.Contains(skus, l.ID) {
			continue
		}
		skus = append(skus, l.ID)
		if nu.UsageLocation == "" {
			adminError(w, http.StatusBadRequest, "License assignment cannot be done for user with invalid usage location.")
			return
		}
		if cu.freeSeats(l.ID) < 1 {
			adminError(w, http.StatusBadRequest, "Subscription with SKU "+l.ID+" does not have any available licenses.")
			return
		}
	}
	u := d.addUser(nu, now)
	for _, id := range skus {
		u.Licenses = append(u.Licenses, &userLicense{SkuID: id, DisabledPlans: []string{}, Assigned: now})
	}
	provisionMail(u)
	adminJSON(w, http.StatusCreated, userView(u))
}
