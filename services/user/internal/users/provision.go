package users

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/directory"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Input is a user representation as APSC sends it.
type Input struct {
	ID             string
	TenantID       string
	Login          string
	DisplayName    string
	FirstName      string
	LastName       string
	UsageLocation  string
	Password       secret.String
	AccountEnabled *bool
	Licenses       []storage.LicenseRef
}

var (
	localPartRe = regexp.MustCompile(`^[A-Za-z0-9._'+-]{1,64}$`)
	countryRe   = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Provision answers POST /users.
func (s *Service) Provision(ctx context.Context, req apsmd.Request, in Input) (*View, error) {
	if !apsmd.IsID(in.ID) {
		return nil, apierr.Invalid("aps.id %q is not a UUID.", in.ID)
	}
	if existing, err := s.Store.Get(ctx, req.InstanceID, in.ID); err == nil {
		return s.outcome(existing, storage.OpProvision)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	inst, t, g, err := s.tenantGraph(ctx, req.InstanceID, in.TenantID)
	if err != nil {
		return nil, err
	}
	u := &storage.User{ID: in.ID, InstanceID: inst.InstanceID, TenantID: t.ID, CustomerID: t.MSCustomerID, AccountEnabled: true,
		State: storage.StateCreating, Operation: storage.OpProvision, OperationState: storage.OpRunning}
	if in.AccountEnabled != nil {
		u.AccountEnabled = *in.AccountEnabled
	}
	if err := s.checkLogin(ctx, g, in.Login); err != nil {
		return nil, err
	}
	u.Login = strings.ToLower(strings.TrimSpace(in.Login))
	if err := applyNames(u, in); err != nil {
		return nil, err
	}
	if err := s.resolveLicenses(ctx, inst, t, u, in); err != nil {
		return nil, err
	}
	if err := s.checkSeats(ctx, g, u.Licenses, nil); err != nil {
		return nil, err
	}
	pw := in.Password
	if pw.Empty() {
		pw = secret.New(NewPassword())
	}
	if u.PasswordSealed, err = s.Sealer.Seal(pw); err != nil {
		return nil, err
	}
	if err := s.Store.Create(ctx, u, newJob(KindProvision, u)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return nil, apierr.New(codes.AlreadyExists, apierr.Conflict, "The id %s is already used by another resource.", in.ID)
		}
		return nil, err
	}
	s.notify()
	return &View{User: u, Accepted: describe(storage.OpProvision, u)}, nil
}

// checkLogin requires a user principal name on a verified domain of the tenant.
func (s *Service) checkLogin(ctx context.Context, g Graph, login string) error {
	login = strings.TrimSpace(login)
	local, domain, ok := strings.Cut(login, "@")
	if !ok || !localPartRe.MatchString(local) || domain == "" || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") {
		return apierr.Invalid("login %q is not a valid user principal name (name@domain).", login)
	}
	domains, err := g.Domains(ctx)
	if err != nil {
		return fromGraph(err, "list the tenant's domains")
	}
	for _, d := range domains {
		if strings.EqualFold(d.ID, domain) {
			if !d.IsVerified {
				return apierr.New(codes.FailedPrecondition, apierr.DomainNotVerified,
					"The domain %s of the login is not verified yet: publish its DNS records and verify it first.", domain)
			}
			return nil
		}
	}
	return apierr.New(codes.InvalidArgument, apierr.InvalidRequest, "The domain %s of the login is not a domain of this tenant.", domain)
}

func applyNames(u *storage.User, in Input) error {
	u.FirstName, u.LastName = strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
	u.DisplayName = strings.TrimSpace(in.DisplayName)
	if u.DisplayName == "" {
		u.DisplayName = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	if u.DisplayName == "" {
		u.DisplayName, _, _ = strings.Cut(u.Login, "@")
	}
	if len(u.DisplayName) > 256 || len(u.FirstName) > 64 || len(u.LastName) > 64 {
		return apierr.Invalid("Names are too long: display_name up to 256, first and last name up to 64 characters.")
	}
	loc := strings.ToUpper(strings.TrimSpace(in.UsageLocation))
	if loc != "" && !countryRe.MatchString(loc) {
		return apierr.Invalid("usage_location %q must be an ISO 3166 alpha-2 code.", in.UsageLocation)
	}
	u.UsageLocation = loc
	return nil
}

// resolveLicenses turns the requested licenses into SKUs and settles the
// usage location they need.
func (s *Service) resolveLicenses(ctx context.Context, inst *directory.Instance, t *directory.Tenant, u *storage.User, in Input) error {
	if len(in.Licenses) == 0 {
		u.Licenses = nil
		return nil
	}
	if !s.Endpoints.LicenseManagementSupported {
		return apierr.New(codes.FailedPrecondition, apierr.NotSupportedInCloud,
			"Partners cannot manage licenses of customer users in the %s cloud; assign them in the Microsoft 365 admin center.", s.Endpoints.Cloud)
	}
	var refs []storage.LicenseRef
	for _, l := range in.Licenses {
		ref := l
		if ref.SKUID == "" {
			if ref.SubscriptionID == "" {
				return apierr.Invalid("A license needs a subscription link or a sku_id.")
			}
			sku, tenantID, err := s.Subscriptions.SKU(ctx, inst.InstanceID, ref.SubscriptionID)
			if err != nil {
				return err
			}
			if tenantID != t.ID {
				return apierr.Invalid("Subscription %s belongs to another tenant.", ref.SubscriptionID)
			}
			ref.SKUID = sku
		}
		ref.SKUID = strings.ToLower(ref.SKUID)
		if slices.ContainsFunc(refs, func(r storage.LicenseRef) bool { return r.SKUID == ref.SKUID }) {
			continue
		}
		refs = append(refs, ref)
	}
	u.Licenses = refs
	if u.UsageLocation == "" {
		u.UsageLocation = inst.DefaultUsageLocation
	}
	if u.UsageLocation == "" {
		return apierr.New(codes.InvalidArgument, apierr.UsageLocationRequired,
			"Licenses need a usage location: set usage_location on the user or default_usage_location on the instance.")
	}
	return nil
}

// checkSeats refuses licenses without free seats (enabled − consumed), so
// that nothing is created when the tenant lacks them. held are SKUs the
// user already holds (they need no new seat).
func (s *Service) checkSeats(ctx context.Context, g Graph, want []storage.LicenseRef, held []string) error {
	var need []string
	for _, l := range want {
		if !slices.Contains(held, l.SKUID) {
			need = append(need, l.SKUID)
		}
	}
	if len(need) == 0 {
		return nil
	}
	skus, err := g.SubscribedSKUs(ctx)
	if err != nil {
		return fromGraph(err, "read the tenant's licenses")
	}
	for _, id := range need {
		i := slices.IndexFunc(skus, func(k graph.SubscribedSKU) bool { return strings.EqualFold(k.SKUID, id) })
		if i < 0 {
			return apierr.New(codes.FailedPrecondition, apierr.NotEnoughLicenses, "The tenant has no subscription granting license %s.", id)
		}
		if skus[i].Free() < 1 {
			return apierr.New(codes.FailedPrecondition, apierr.NotEnoughLicenses,
				"No free %s licenses: %d bought, %d assigned. Buy more seats first.", skus[i].SKUPartNumber, skus[i].PrepaidUnits.Enabled, skus[i].ConsumedUnits)
		}
	}
	return nil
}

// runProvision creates the user (or finds it by user principal name after an
// interrupted create), then assigns its licenses.
func (s *Service) runProvision(ctx context.Context, job *jobs.Job) error {
	u, g, err := s.jobUser(ctx, job, storage.OpProvision)
	if err != nil || u == nil {
		return err
	}
	if u.MSUserID == "" {
		if err := s.create(ctx, g, u); err != nil {
			return err
		}
	}
	if err := s.syncLicenses(ctx, g, u); err != nil {
		return err
	}
	return s.mutate(ctx, u, func(x *storage.User) {
		x.State, x.OperationState, x.PasswordSealed = stateOf(x), storage.OpDone, ""
	})
}

func stateOf(u *storage.User) string {
	if !u.AccountEnabled {
		return storage.StateDisabled
	}
	return storage.StateActive
}

func (s *Service) create(ctx context.Context, g Graph, u *storage.User) error {
	if u.CreateSent {
		found, err := g.FindUser(ctx, u.Login)
		if err != nil {
			return jobError(err)
		}
		if found != nil {
			return s.mutate(ctx, u, func(x *storage.User) { x.MSUserID = found.ID })
		}
	} else if err := s.mutate(ctx, u, func(x *storage.User) { x.CreateSent = true }); err != nil {
		return err
	}
	pw, err := s.Sealer.Open(u.PasswordSealed)
	if err != nil {
		return jobs.Permanent(err)
	}
	local, _, _ := strings.Cut(u.Login, "@")
	enabled := u.AccountEnabled
	created, err := g.CreateUser(ctx, graph.User{UserPrincipalName: u.Login, DisplayName: u.DisplayName, GivenName: u.FirstName,
		Surname: u.LastName, MailNickname: nickname(local), UsageLocation: u.UsageLocation, AccountEnabled: &enabled,
		PasswordProfile: &graph.PasswordProfile{Password: pw.Reveal(), ForceChangePasswordNextSignIn: true}})
	if err != nil {
		if e, ok := graph.AsError(err); ok && e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "already exists") {
			found, ferr := g.FindUser(ctx, u.Login)
			if ferr == nil && found != nil {
				return s.mutate(ctx, u, func(x *storage.User) { x.MSUserID = found.ID })
			}
		}
		return jobError(err)
	}
	s.Log.InfoContext(ctx, "user created", "user_id", u.ID, "ms_user_id", created.ID)
	return s.mutate(ctx, u, func(x *storage.User) { x.MSUserID = created.ID })
}

func nickname(local string) string {
	var b strings.Builder
	for _, r := range local {
		if r < 128 && r != '@' && r != ' ' && r != '"' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// syncLicenses assigns the wanted SKUs and removes the others, riding out the
// short replication lag after a usage location is set.
func (s *Service) syncLicenses(ctx context.Context, g Graph, u *storage.User) error {
	var want []string
	for _, l := range u.Licenses {
		want = append(want, l.SKUID)
	}
	var add, remove []string
	for _, w := range want {
		if !slices.Contains(u.Assigned, w) {
			add = append(add, w)
		}
	}
	for _, h := range u.Assigned {
		if !slices.Contains(want, h) {
			remove = append(remove, h)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		_, err = g.AssignLicense(ctx, u.MSUserID, add, remove)
		if err == nil || !invalidUsageLocation(err) || u.UsageLocation == "" {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
		}
	}
	if err != nil {
		if e, ok := graph.AsError(err); ok && e.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Message), "available licenses") {
			return jobs.Permanent(apierr.Wrap(err, codes.FailedPrecondition, apierr.NotEnoughLicenses, "No free licenses left: %s", e.Message))
		}
		if invalidUsageLocation(err) {
			return err // still replicating: the job retries with backoff
		}
		return jobError(err)
	}
	return s.mutate(ctx, u, func(x *storage.User) { x.Assigned = want })
}
