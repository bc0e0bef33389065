package mscloud

import (
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The Microsoft Entra part: the registered partners, their application's
// client secrets (entra_secrets.go), and the access and refresh tokens the
// token endpoint issues (entra_token.go). Its lock is the innermost of the
// three parts (lockorder.go): Partner Center and Graph may call it with
// their own lock held, and it never calls another part.

// entraService is the state of the Entra part, guarded by mu.
type entraService struct {
	log   *slog.Logger
	clock *Clock

	mu       sync.Mutex
	partners map[string]*partner        // by tenant id
	order    []*partner                 // registration order
	secrets  map[string][]*clientSecret // the app's client secrets by partner tenant id, creation order
	tokens   map[string]*accessToken    // by token value
	refresh  map[string]*refreshToken   // by token value
}

func newEntraService(log *slog.Logger, clock *Clock) *entraService {
	return &entraService{
		log: log, clock: clock,
		partners: map[string]*partner{}, secrets: map[string][]*clientSecret{},
		tokens: map[string]*accessToken{}, refresh: map[string]*refreshToken{},
	}
}

// accessToken is an opaque bearer token kept in memory. The other parts
// get copies (token, validToken).
type accessToken struct {
	Partner  *partner
	TenantID string // issuing tenant: the partner's or one of its customers'
	Audience string
	ClientID string
	AppOnly  bool
	Expires  time.Time
}

type refreshToken struct {
	Partner  *partner
	ClientID string
	Expires  time.Time
}

const refreshTokenLifetime = 90 * 24 * time.Hour

// partner returns the partner with tenant id id (lower case), or nil.
func (s *entraService) partner(id string) *partner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partners[id]
}

// token returns a copy of the access token raw, expired or not, or nil.
func (s *entraService) token(raw string) *accessToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[raw]
	if tok == nil {
		return nil
	}
	cp := *tok
	return &cp
}

// validToken returns a copy of the unexpired token the request carries,
// or nil.
func (s *entraService) validToken(r *http.Request) *accessToken {
	raw, ok := bearer(r)
	if !ok {
		return nil
	}
	tok := s.token(raw)
	if tok == nil || !time.Now().Before(tok.Expires) {
		return nil
	}
	return tok
}

var iso2Re = regexp.MustCompile(`^[A-Z]{2}$`)

// POST /_sim/partners registers a CSP partner with its app registration;
// client_secret_expires_in (a Go duration, default 2 years) sets the
// lifetime of the app's first client secret.
func (s *entraService) adminCreatePartner(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name                  string   `json:"name"`
		Cloud                 string   `json:"cloud"`
		Countries             []string `json:"countries"`
		Sandbox               bool     `json:"sandbox"`
		ClientSecretExpiresIn string   `json:"client_secret_expires_in"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	secretLifetime, ok := parseSecretLifetime(in.ClientSecretExpiresIn)
	if !ok {
		adminError(w, http.StatusBadRequest, `client_secret_expires_in must be a positive Go duration such as "240h", at most 100 years`)
		return
	}
	cloudName := strings.ToLower(strings.TrimSpace(in.Cloud))
	if cloudName == "" {
		cloudName = "global"
	}
	cloud := cloudProfiles[cloudName]
	if cloud == nil {
		adminError(w, http.StatusBadRequest, `unknown cloud "`+in.Cloud+`": use global, china or usgov`)
		return
	}
	countries := []string{}
	for _, c := range in.Countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !iso2Re.MatchString(c) {
			adminError(w, http.StatusBadRequest, `country "`+c+`" is not an ISO 3166 alpha-2 code`)
			return
		}
		countries = append(countries, c)
	}
	if len(in.Countries) == 0 {
		// By default a partner sells wherever its cloud does: a 21Vianet
		// partner in CN, a US Government one in the US.
		countries = catalogs[cloudName].markets()
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = "Simulated partner"
	}
	s.mu.Lock()
	now := s.clock.Now()
	p := &partner{
		TenantID: newGUID(), Name: name, Cloud: cloud, Countries: countries, Sandbox: in.Sandbox,
		ClientID: newGUID(), AppObjectID: newGUID(), CreatedAt: now,
	}
	s.partners[p.TenantID] = p
	s.order = append(s.order, p)
	sec := s.addSecret(p, now, secretLifetime, "")
	rt := randomToken("simrt.", 48)
	s.refresh[rt] = &refreshToken{Partner: p, ClientID: p.ClientID, Expires: now.Add(refreshTokenLifetime)}
	s.mu.Unlock()
	s.log.Info("partner registered", "tenant_id", p.TenantID, "client_id", p.ClientID, "cloud", cloud.Name, "sandbox", p.Sandbox)
	adminJSON(w, http.StatusCreated, map[string]string{
		"tenant_id": p.TenantID, "client_id": p.ClientID, "client_secret": sec.Value, "refresh_token": rt,
		"client_secret_key_id": sec.KeyID, "client_secret_end_date_time": tsOf(sec.End),
	})
}
