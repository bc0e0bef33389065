// Package health keeps every instance's credential and relationship health
// current (GET /app/{id}/health): a periodic check redeems refresh tokens
// before their 90 days of inactivity run out, reads the expiry of the
// client secret from the application's passwordCredentials, tries Partner
// Center and Graph, and checks each tenant's GDAP relationship (tracking
// approvals and asking again for expired ones), consent and customer.
package health

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/budget"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/msclients"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// States of a credential or an API.
const (
	OK          = "ok"
	Expiring    = "expiring"
	Expired     = "expired"
	Invalid     = "invalid"
	Unavailable = "unavailable"
)

// Problems of a tenant at risk.
const (
	ConsentMissing = "ConsentMissing"
	GdapMissing    = "GdapMissing"
	GdapExpiring   = "GdapExpiring"
	CustomerGone   = "CustomerGone"
)

// RefreshTokenLifetime: Entra lets a refresh token die after 90 days
// without a redemption.
const RefreshTokenLifetime = 90 * 24 * time.Hour

// Secrets reads the partner application's client secrets (Graph in the
// partner's tenant).
type Secrets interface {
	ApplicationSecrets(ctx context.Context, clientID string) ([]graph.PasswordCredential, error)
}

// Customers is what the check needs from Partner Center.
type Customers interface {
	GetCustomer(ctx context.Context, id string) (*partnercenter.Customer, error)
	ListCustomers(ctx context.Context, size int, continuation string) (*partnercenter.CustomerPage, error)
}

// Service checks instances.
type Service struct {
	Store     storage.Store
	Instances *instances.Service
	Tenants   *tenants.Service
	Secrets   func(inst *storage.Instance) (Secrets, error)
	PC        func(inst *storage.Instance) (Customers, error)
	// Warning: how long before a deadline the state turns expiring.
	Warning time.Duration
	// Budget paces the tenants' checks per partner at Rate calls per
	// second (shared by the replicas through the store); nil: unpaced.
	Budget *budget.Limiter
	Rate   budget.Rate
	Log    *slog.Logger
	Now    func() time.Time

	once    sync.Once
	mu      sync.Mutex
	last    map[string]storage.Health // instance → last check, for the metrics
	checked metric.Int64Counter
}

// DefaultWarning is the warning period when none is configured.
const DefaultWarning = 30 * 24 * time.Hour

func (s *Service) warning() time.Duration {
	if s.Warning > 0 {
		return s.Warning
	}
	return DefaultWarning
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) init() {
	s.once.Do(func() {
		s.last = map[string]storage.Health{}
		meter := otel.Meter("o365gateway/health")
		s.checked, _ = meter.Int64Counter("credential_checks_total",
			metric.WithDescription("Credential health checks by outcome state of the instance's credential."))
		// One series per state and kind, never per instance or tenant.
		_, _ = meter.Int64ObservableGauge("credential_health_instances",
			metric.WithDescription("Instances by the state of their Microsoft credential (ok, expiring, expired, invalid) at the last check."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				counts := map[[2]string]int64{}
				s.mu.Lock()
				for _, h := range s.last {
					counts[[2]string{h.Credentials.State, h.Credentials.Kind}]++
				}
				s.mu.Unlock()
				for k, n := range counts {
					o.Observe(n, metric.WithAttributes(attribute.String("state", k[0]), attribute.String("kind", k[1])))
				}
				return nil
			}))
		_, _ = meter.Int64ObservableGauge("tenants_at_risk",
			metric.WithDescription("Tenants whose consent or GDAP relationship is missing or ending, or whose customer is gone, by problem."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				counts := map[string]int64{ConsentMissing: 0, GdapMissing: 0, GdapExpiring: 0, CustomerGone: 0}
				s.mu.Lock()
				for _, h := range s.last {
					for _, r := range h.TenantsAtRisk {
						counts[r.Problem]++
					}
				}
				s.mu.Unlock()
				for p, n := range counts {
					o.Observe(n, metric.WithAttributes(attribute.String("problem", p)))
				}
				return nil
			}))
		_, _ = meter.Float64ObservableGauge("credential_expiry_seconds",
			metric.WithDescription("Seconds until the soonest known expiry of an instance credential (client secret end date, or 90 days after the last refresh-token redemption)."),
			metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
				var soonest time.Time
				s.mu.Lock()
				for _, h := range s.last {
					if e := h.Credentials.ExpiresAt; !e.IsZero() && (soonest.IsZero() || e.Before(soonest)) {
						soonest = e
					}
				}
				s.mu.Unlock()
				if !soonest.IsZero() {
					o.Observe(time.Until(soonest).Seconds())
				}
				return nil
			}))
	})
}

// Get answers GET /app/{id}/health: the last periodic check, or a check
// made now (refresh, or none made yet).
func (s *Service) Get(ctx context.Context, req apsmd.Request, appID string, refresh bool) (storage.Health, error) {
	inst, err := s.Instances.Get(ctx, req, appID)
	if err != nil {
		return storage.Health{}, err
	}
	if !refresh && !inst.Health.CheckedAt.IsZero() {
		return inst.Health, nil
	}
	return s.CheckAndStore(ctx, inst)
}

// CheckAndStore checks an instance and stores the result.
func (s *Service) CheckAndStore(ctx context.Context, inst *storage.Instance) (storage.Health, error) {
	s.init()
	h := s.Check(ctx, inst)
	err := s.Store.SetInstanceHealth(ctx, inst.InstanceID, h)
	s.mu.Lock()
	if errors.Is(err, storage.ErrNotFound) {
		delete(s.last, inst.InstanceID) // deleted meanwhile: no longer counted
	} else {
		s.last[inst.InstanceID] = h
	}
	s.mu.Unlock()
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return h, err
	}
	s.checked.Add(ctx, 1, metric.WithAttributes(attribute.String("state", h.Credentials.State)))
	return h, nil
}

// Check finds the health of an instance now.
func (s *Service) Check(ctx context.Context, inst *storage.Instance) storage.Health {
	now := s.now()
	h := storage.Health{CheckedAt: now, LastRedeemed: inst.Health.LastRedeemed}
	s.checkCredential(ctx, inst, &h)
	s.checkTenants(ctx, inst, &h)
	return h
}

// checkCredential: a refresh token is redeemed (which keeps it alive for
// another 90 days); a client secret's end date is read from Graph.
func (s *Service) checkCredential(ctx context.Context, inst *storage.Instance, h *storage.Health) {
	now := h.CheckedAt
	dead := func(err error) bool {
		e := mserr.Credentials(err)
		if e == nil {
			return false
		}
		h.Credentials.State, h.Credentials.Message = Invalid, e.Message
		if e.Reason == apierr.CredentialsExpired {
			h.Credentials.State = Expired
		}
		return true
	}
	// Partner Center with a partner token: proves the credential too.
	pc, err := s.PC(inst)
	if err == nil {
		_, err = pc.ListCustomers(ctx, 1, "")
	}
	switch {
	case err == nil:
		h.PartnerCenter = storage.APIHealth{State: OK}
	case dead(err):
		h.PartnerCenter = storage.APIHealth{State: Invalid, Message: h.Credentials.Message}
	default:
		h.PartnerCenter = apiFailure(err)
	}
	if inst.AppUser() {
		h.Credentials.Kind = "refresh_token"
		if h.Credentials.State == "" {
			// The Partner Center call above redeemed the token (each
			// access token of an app+user credential is a redemption).
			if err == nil {
				h.LastRedeemed = now
			} else if _, terr := s.Instances.AccessToken(ctx, inst.InstanceID, "", msclients.PartnerCenter); terr == nil {
				h.LastRedeemed = now
			} else if !dead(terr) {
				h.Credentials.Message = "The refresh token could not be redeemed just now: " + apierr.From(terr).Message
			}
		}
		if !h.LastRedeemed.IsZero() {
			h.Credentials.ExpiresAt = h.LastRedeemed.Add(RefreshTokenLifetime)
		}
		if h.Credentials.State == "" {
			h.Credentials.State = s.deadline(h.Credentials.ExpiresAt, now)
			if h.Credentials.State != OK && h.Credentials.Message == "" {
				h.Credentials.Message = "The refresh token dies 90 days after its last redemption; the periodic check could not redeem it."
			}
		}
		h.Graph = h.PartnerCenter
		return
	}
	h.Credentials.Kind = "client_secret"
	sec, err := s.Secrets(inst)
	var creds []graph.PasswordCredential
	if err == nil {
		creds, err = sec.ApplicationSecrets(ctx, inst.ClientID)
	}
	switch {
	case err == nil:
		h.Graph = storage.APIHealth{State: OK}
	case dead(err):
		h.Graph = storage.APIHealth{State: Invalid, Message: h.Credentials.Message}
		return
	default:
		h.Graph = apiFailure(err)
	}
	if h.Credentials.State != "" {
		return // dead
	}
	hint := s.secretHint(inst)
	for _, c := range creds {
		if c.EndDateTime != nil && hint != "" && c.Hint == hint && (h.Credentials.ExpiresAt.IsZero() || c.EndDateTime.After(h.Credentials.ExpiresAt)) {
			h.Credentials.ExpiresAt = *c.EndDateTime
		}
	}
	h.Credentials.State = s.deadline(h.Credentials.ExpiresAt, now)
	switch {
	case h.Credentials.State == Expiring:
		h.Credentials.Message = "The client secret expires on " + h.Credentials.ExpiresAt.UTC().Format(time.DateOnly) +
			": add a new secret to the application and enter it in the instance settings."
	case h.Credentials.ExpiresAt.IsZero() && err == nil:
		h.Credentials.Message = "The application lists no secret matching the instance's; its expiry is unknown."
	case h.Credentials.ExpiresAt.IsZero():
		h.Credentials.Message = "The expiry of the client secret could not be read: " + h.Graph.Message
	}
}

// secretHint is what Graph shows of a secret: its first three characters.
func (s *Service) secretHint(inst *storage.Instance) string {
	c, err := s.Instances.Credentials(inst)
	if err != nil || len(c.ClientSecret.Reveal()) < 3 {
		return ""
	}
	return c.ClientSecret.Reveal()[:3]
}

func (s *Service) deadline(at, now time.Time) string {
	switch {
	case at.IsZero():
		return OK
	case !at.After(now):
		return Expired
	case at.Sub(now) <= s.warning():
		return Expiring
	}
	return OK
}

func apiFailure(err error) storage.APIHealth {
	if e, ok := graph.AsError(err); ok && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized) {
		return storage.APIHealth{State: Invalid, Message: "Microsoft refused the call: " + e.Message}
	}
	if e, ok := partnercenter.AsError(err); ok && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized) {
		return storage.APIHealth{State: Invalid, Message: "Microsoft refused the call: " + e.Description}
	}
	return storage.APIHealth{State: Unavailable, Message: apierr.From(mserr.Sync(err, "answer")).Message}
}

// checkTenants walks the instance's active tenants: relationship (tracked,
// asked again when expired), consent and customer.
func (s *Service) checkTenants(ctx context.Context, inst *storage.Instance, h *storage.Health) {
	pc, err := s.PC(inst)
	if err != nil {
		pc = nil // no Partner Center client: the customers are not checked
	}
	_ = storage.EachActiveTenant(ctx, s.Store, inst.InstanceID, func(t *storage.Tenant) bool {
		// About three calls a tenant (the customer, the relationship, a
		// consent), paced per partner with the drift check's share.
		if err := s.Budget.Wait(ctx, "health/"+inst.PartnerTenantID, s.Rate, 3); err != nil {
			return false
		}
		if pc != nil {
			if _, err := pc.GetCustomer(ctx, t.MSCustomerID); err != nil {
				if e, ok := partnercenter.AsError(err); ok && e.StatusCode == http.StatusNotFound {
					h.TenantsAtRisk = append(h.TenantsAtRisk, storage.TenantRisk{TenantID: t.ID, Problem: CustomerGone,
						Message: "Microsoft customer " + t.MSCustomerID + " is no longer a customer of this partner."})
					return true
				}
			}
		}
		if tracked, err := s.Tenants.TrackGDAP(ctx, inst, t); err != nil {
			s.Log.WarnContext(ctx, "GDAP relationship not checked", "tenant_id", t.ID, "cause", err.Error())
		} else {
			t = tracked
		}
		if r := risk(inst, t, h.CheckedAt, s.warning()); r != nil {
			h.TenantsAtRisk = append(h.TenantsAtRisk, *r)
		}
		return true
	})
}

// risk is what is wrong with a tenant's access, if anything.
func risk(inst *storage.Instance, t *storage.Tenant, now time.Time, warning time.Duration) *storage.TenantRisk {
	g := t.GDAP
	switch g.Current() {
	case gdap.StatePendingApproval:
		return &storage.TenantRisk{TenantID: t.ID, Problem: GdapMissing, ExpiresAt: g.ExpiresAt,
			Message: "The customer has not approved the delegated admin relationship yet: " + g.ApprovalURL}
	case gdap.StateNone, gdap.StateExpired:
		msg := "The partner has no delegated admin relationship with the customer; the check asks for one."
		if g.Problem != "" {
			msg += " Last refusal: " + g.Problem
		}
		return &storage.TenantRisk{TenantID: t.ID, Problem: GdapMissing, Message: msg}
	case gdap.StateExpiring:
		return &storage.TenantRisk{TenantID: t.ID, Problem: GdapExpiring, ExpiresAt: g.ExpiresAt,
			Message: "The delegated admin relationship ends on " + g.ExpiresAt.UTC().Format(time.DateOnly) + " and is not extended automatically."}
	}
	if !g.AutoExtend && !g.ExpiresAt.IsZero() && g.ExpiresAt.Sub(now) <= warning {
		return &storage.TenantRisk{TenantID: t.ID, Problem: GdapExpiring, ExpiresAt: g.ExpiresAt,
			Message: "The delegated admin relationship ends on " + g.ExpiresAt.UTC().Format(time.DateOnly) + "."}
	}
	if inst.AppUser() && !g.Consented {
		msg := "The application's consent in the customer's tenant is not granted yet."
		if g.Problem != "" {
			msg += " " + strings.TrimPrefix(g.Problem, "consent: ")
		}
		return &storage.TenantRisk{TenantID: t.ID, Problem: ConsentMissing, Message: msg}
	}
	return nil
}

// Run checks every instance at start and then every interval, until ctx
// ends. Replicas may check the same instance: each check is idempotent.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTimer(time.Minute) // let the service settle first
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.RunOnce(ctx, interval/2)
		t.Reset(interval / 4)
	}
}

// RunOnce checks every instance whose last check is older than maxAge
// (another replica's recent check counts).
func (s *Service) RunOnce(ctx context.Context, maxAge time.Duration) {
	for after := ""; ; {
		page, err := s.Store.ListInstances(ctx, after, 50)
		if err != nil {
			s.Log.WarnContext(ctx, "health check: instances not listed", "cause", err.Error())
			return
		}
		if len(page) == 0 {
			return
		}
		for _, inst := range page {
			if ctx.Err() != nil {
				return
			}
			if !inst.Health.CheckedAt.IsZero() && s.now().Sub(inst.Health.CheckedAt) < maxAge {
				continue
			}
			h, err := s.CheckAndStore(ctx, inst)
			if err != nil {
				s.Log.WarnContext(ctx, "health check not stored", "app_id", inst.AppID, "cause", err.Error())
				continue
			}
			if h.Credentials.State != OK || len(h.TenantsAtRisk) > 0 {
				s.Log.WarnContext(ctx, "instance health", "app_id", inst.AppID, "credentials", h.Credentials.State,
					"kind", h.Credentials.Kind, "tenants_at_risk", len(h.TenantsAtRisk))
			}
		}
		after = page[len(page)-1].InstanceID
	}
}
