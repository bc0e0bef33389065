// Package users carries out the user operations in a customer's tenant
// through Microsoft Graph: validation (domain, seats, usage location) in the
// synchronous phase, and durable jobs that create, change and delete users
// exactly once (the user principal name is the natural key).
package users

import (
	"context"
	"crypto/rand"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/clouds"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/tenantclient"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Graph is what the user flows need from Microsoft Graph in one tenant.
type Graph interface {
	CreateUser(ctx context.Context, u graph.User) (*graph.User, error)
	GetUser(ctx context.Context, idOrUPN string) (*graph.User, error)
	FindUser(ctx context.Context, upn string) (*graph.User, error)
	UpdateUser(ctx context.Context, id string, patch map[string]any) error
	DeleteUser(ctx context.Context, id string) error
	AssignLicense(ctx context.Context, id string, add, remove []string) (*graph.User, error)
	SubscribedSKUs(ctx context.Context) ([]graph.SubscribedSKU, error)
	Domains(ctx context.Context) ([]graph.Domain, error)
	ListUsers(ctx context.Context) ([]graph.User, error)
}

// Tenants reads instances and tenants from the tenant service, which owns
// them (*tenantclient.Client).
type Tenants interface {
	Instance(ctx context.Context, instanceID string) (*tenantclient.Instance, error)
	Tenant(ctx context.Context, instanceID, tenantID string) (*tenantclient.Tenant, error)
}

// Subscriptions tells which license SKU a subscription grants.
type Subscriptions interface {
	SKU(ctx context.Context, instanceID, subscriptionID string) (skuID, tenantID string, err error)
}

// Service implements the user operations.
type Service struct {
	Store         storage.Store
	Tenants       Tenants
	Subscriptions Subscriptions
	Graph         func(inst *tenantclient.Instance, customerTenantID string) (Graph, error)
	Sealer        *secret.Sealer
	Endpoints     clouds.Endpoints
	Notify        func()
	Log           *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Finished is told how each asynchronous operation ended (the audit
	// log); nil tells no one.
	Finished func(ctx context.Context, f lifecycle.Finish)

	once sync.Once
	lc   *lifecycle.Machine[storage.User]
}

// View is a user as an operation answers it.
type View = lifecycle.Answer[storage.User]

// machine is the user's lifecycle.
func (s *Service) machine() *lifecycle.Machine[storage.User] {
	s.once.Do(func() {
		s.lc = &lifecycle.Machine[storage.User]{Name: "user", Store: s.Store, Notify: s.Notify, Log: s.Log, Now: s.Now,
			Finished: s.Finished,
			Op:       func(u *storage.User) *lifecycle.Op { return &u.Op },
			Ref:      func(u *storage.User) (string, string) { return u.InstanceID, u.ID },
			Describe: describe,
			OnFail: func(op string, u *storage.User) {
				if op == lifecycle.Provision {
					u.State = storage.StateFailed
				}
				if op == lifecycle.Unprovision {
					u.State = stateOf(u)
				}
			},
			OnRetry: func(op string, u *storage.User) {
				switch op {
				case lifecycle.Provision:
					u.State = storage.StateCreating
				case lifecycle.Unprovision:
					u.State = storage.StateDeleting
				}
			}}
	})
	return s.lc
}

func describe(op string, u *storage.User) string {
	switch op {
	case lifecycle.Provision:
		return "Creating Microsoft 365 user " + u.Login
	case lifecycle.Configure:
		return "Updating Microsoft 365 user " + u.Login
	default:
		return "Deleting Microsoft 365 user " + u.Login
	}
}

// tenantGraph resolves the instance, the tenant and its Graph client.
func (s *Service) tenantGraph(ctx context.Context, instanceID, tenantID string) (*tenantclient.Instance, *tenantclient.Tenant, Graph, error) {
	inst, err := s.Tenants.Instance(ctx, instanceID)
	if err != nil {
		return nil, nil, nil, err
	}
	if tenantID == "" {
		return nil, nil, nil, apierr.Invalid("The tenant link is required.")
	}
	t, err := s.Tenants.Tenant(ctx, instanceID, tenantID)
	if err != nil {
		return nil, nil, nil, err
	}
	if t.State != "active" || t.MSCustomerID == "" {
		return nil, nil, nil, apierr.New(codes.FailedPrecondition, apierr.TenantNotReady, "Tenant %s is %s; users can be added once it is active.", tenantID, t.State)
	}
	if err := gdap.Require(inst.AppUser, &t.GDAP); err != nil {
		return nil, nil, nil, err
	}
	g, err := s.Graph(inst, t.MSCustomerID)
	if err != nil {
		return nil, nil, nil, err
	}
	return inst, t, g, nil
}

// graphFor returns the Graph client of a job's user.
func (s *Service) graphFor(ctx context.Context, u *storage.User) (Graph, error) {
	inst, err := s.Tenants.Instance(ctx, u.InstanceID)
	if err != nil {
		if apierr.From(err).Code == codes.NotFound {
			return nil, jobs.Permanent(err)
		}
		return nil, err // the tenant service is unreachable for a moment: retried
	}
	g, err := s.Graph(inst, u.CustomerID)
	if err != nil {
		return nil, jobs.Permanent(err)
	}
	return g, nil
}

// Handlers returns the job handlers to register on the runner.
func (s *Service) Handlers() map[string]jobs.Handler {
	return s.machine().Handlers(map[string]lifecycle.Work[storage.User]{
		lifecycle.Provision:   s.runProvision,
		lifecycle.Configure:   s.runConfigure,
		lifecycle.Unprovision: s.runUnprovision,
	})
}

// Get answers GET /users/{id}.
func (s *Service) Get(ctx context.Context, instanceID, id string) (*View, error) {
	if _, err := s.Tenants.Instance(ctx, instanceID); err != nil {
		return nil, err
	}
	u, err := s.machine().Load(ctx, instanceID, id)
	if err != nil {
		return nil, err
	}
	return s.machine().View(u), nil
}

// NewPassword returns a random password Entra's complexity rules accept.
func NewPassword() string {
	const (
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		lower  = "abcdefghijkmnopqrstuvwxyz"
		digits = "23456789"
		symbol = "!@#$%&*?"
	)
	sets := []string{upper, lower, digits, symbol}
	all := upper + lower + digits + symbol
	b := make([]byte, 16)
	for i := range b {
		set := all
		if i < len(sets) {
			set = sets[i]
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		b[i] = set[n.Int64()]
	}
	for i := len(b) - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return string(b)
}

// passwordFor returns a new password for a login: Entra refuses a password
// that contains the user's alias (the login's local part), so one that does
// is drawn again.
func passwordFor(login string) string {
	alias, _, _ := strings.Cut(strings.ToLower(login), "@")
	for {
		pw := NewPassword()
		if len(alias) < 3 || !strings.Contains(strings.ToLower(pw), alias) {
			return pw
		}
	}
}

func invalidUsageLocation(err error) bool {
	e, ok := graph.AsError(err)
	return ok && e.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Message), "usage location")
}

// Retry starts a new attempt of a user's failed operation (an operator's
// re-run, lifecycle.Machine.Retry).
func (s *Service) Retry(ctx context.Context, instanceID, id string) error {
	_, err := s.machine().Retry(ctx, instanceID, id)
	return err
}

// Cancel ends a user's running operation before Microsoft is called
// (lifecycle.Machine.Cancel).
func (s *Service) Cancel(ctx context.Context, instanceID, id, by string) error {
	return s.machine().Cancel(ctx, instanceID, id, by)
}
