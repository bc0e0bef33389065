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
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/tenantclient"

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

// Provision answers POST /users. A re-send answers from the stored state; a
// sync re-send of a failed provisioning re-runs it from the failed step.
func (s *Service) Provision(ctx context.Context, req apsmd.Request, in Input) (*View, error) {
	m := s.machine()
	existing, a, d, err := m.Begin(ctx, req.InstanceID, in.ID, lifecycle.Provision, req.Async())
	switch d {
	case lifecycle.Answered:
		return a, err
	case lifecycle.Rerun:
		return s.rerunProvision(ctx, req, existing, in)
	}
	u, bind, err := s.prepare(ctx, req, &storage.User{ID: in.ID, InstanceID: req.InstanceID, TenantID: in.TenantID}, in)
	if err != nil {
		return nil, err
	}
	m.Prepare(u, lifecycle.Provision)
	if bind != nil {
		u.Op.MarkDone(stepCreate)
	}
	if err := s.Store.Create(ctx, u, m.Job(u)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return m.Raced(ctx, req.InstanceID, in.ID)
		}
		return nil, err
	}
	if bind != nil {
		// The user the gateway adopted now belongs to this resource.
		if err := s.Store.Delete(ctx, bind.InstanceID, bind.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		s.Log.InfoContext(ctx, "provision binds to an adopted user", "user_id", u.ID, "ms_user_id", u.MSUserID)
	}
	s.notify()
	return m.Accepted(u), nil
}

// rerunProvision starts a new attempt of a failed provisioning with the
// re-sent data, validated again. A login that this gateway's own earlier
// attempt may have created is not refused as taken.
func (s *Service) rerunProvision(ctx context.Context, req apsmd.Request, u *storage.User, in Input) (*View, error) {
	next, _, err := s.prepare(ctx, req, u, in)
	if err != nil {
		return nil, err
	}
	return s.machine().Start(ctx, next, lifecycle.Provision, true)
}

func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

// stepCreate is the keyed step that creates the user at Microsoft.
const stepCreate = "create"

// prepare validates a provisioning completely before anything is created:
// the login and its domain, names, licenses, seats. It returns the user to
// store (a copy of base with the request applied) and, when the login is a
// user the gateway adopted and no resource owns yet, that adopted record.
func (s *Service) prepare(ctx context.Context, req apsmd.Request, base *storage.User, in Input) (*storage.User, *storage.User, error) {
	inst, t, g, err := s.tenantGraph(ctx, req.InstanceID, in.TenantID)
	if err != nil {
		return nil, nil, err
	}
	u := *base
	u.InstanceID, u.TenantID, u.CustomerID, u.AccountEnabled, u.State = inst.InstanceID, t.ID, t.MSCustomerID, true, storage.StateCreating
	if in.AccountEnabled != nil {
		u.AccountEnabled = *in.AccountEnabled
	}
	if err := s.checkLogin(ctx, g, in.Login); err != nil {
		return nil, nil, err
	}
	u.Login = strings.ToLower(strings.TrimSpace(in.Login))
	if err := applyNames(&u, in); err != nil {
		return nil, nil, err
	}
	if err := s.resolveLicenses(ctx, inst, t, &u, in); err != nil {
		return nil, nil, err
	}
	var bind *storage.User
	if u.MSUserID == "" && base.Op.StepState(stepCreate) != lifecycle.StepSent {
		if bind, err = s.checkNewLogin(ctx, g, &u); err != nil {
			return nil, nil, err
		}
	}
	held := u.Assigned
	if bind != nil {
		u.MSUserID, u.Assigned, held = bind.MSUserID, bind.Assigned, bind.Assigned
	}
	if err := s.checkSeats(ctx, g, u.Licenses, held); err != nil {
		return nil, nil, err
	}
	if u.MSUserID != "" || bind != nil {
		u.PasswordSealed, u.PasswordGenerated = "", false // an existing user keeps its password
		return &u, bind, nil
	}
	pw, generated := in.Password, false
	if pw.Empty() {
		if u.PasswordSealed != "" {
			return &u, nil, nil // a re-run keeps the password of the first attempt
		}
		pw, generated = secret.New(passwordFor(u.Login)), true
	}
	if u.PasswordSealed, err = s.Sealer.Seal(pw, u.SealedAt(storage.SealedPassword)); err != nil {
		return nil, nil, err
	}
	u.PasswordGenerated = generated
	return &u, nil, nil
}

// checkNewLogin refuses a login that already exists: as another resource of
// the platform, or as a user at Microsoft, except a user the gateway
// adopted (synchronize) that no resource owns yet: that one is returned,
// and the provisioning binds to it instead of creating a second user.
func (s *Service) checkNewLogin(ctx context.Context, g Graph, u *storage.User) (*storage.User, error) {
	local, err := s.Store.ListByTenant(ctx, u.InstanceID, u.TenantID)
	if err != nil {
		return nil, err
	}
	var adopted *storage.User
	for _, l := range local {
		if l.ID == u.ID || !strings.EqualFold(l.Login, u.Login) {
			continue
		}
		if !l.Imported {
			return nil, apierr.New(codes.AlreadyExists, apierr.UserAlreadyExists,
				"The login %s is already used by user resource %s of this tenant.", u.Login, l.ID)
		}
		adopted = l
	}
	found, err := g.FindUser(ctx, u.Login)
	if err != nil {
		return nil, mserr.Sync(err, "look the login up")
	}
	switch {
	case found == nil:
		return nil, nil
	case adopted != nil && adopted.MSUserID == found.ID:
		return adopted, nil
	default:
		return nil, apierr.New(codes.AlreadyExists, apierr.UserAlreadyExists,
			"A user %s already exists in the customer's Microsoft tenant. Synchronize the tenant to adopt it, or choose another login.", u.Login)
	}
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
		return mserr.Sync(err, "list the tenant's domains")
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
func (s *Service) resolveLicenses(ctx context.Context, inst *tenantclient.Instance, t *tenantclient.Tenant, u *storage.User, in Input) error {
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
		return mserr.Sync(err, "read the tenant's licenses")
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

// runProvision creates the user (read back by user principal name after an
// unknown outcome), then assigns its licenses.
func (s *Service) runProvision(ctx context.Context, u *storage.User) (func(*storage.User), error) {
	g, err := s.graphFor(ctx, u)
	if err != nil {
		return nil, err
	}
	if u.MSUserID == "" {
		if err := s.machine().Do(ctx, u, s.createEffect(g)); err != nil {
			return nil, err
		}
	} else if err := s.applyProfile(ctx, g, u); err != nil {
		// A user the provisioning binds to (adopted by a synchronization)
		// was not created with the requested profile: its usage location,
		// which licenses need, may be missing.
		return nil, err
	}
	if err := s.syncLicenses(ctx, g, u); err != nil {
		return nil, err
	}
	// A generated password is revealed once: sealed again for the
	// operation's secret, a place of its own.
	var reveal string
	if u.PasswordGenerated && u.PasswordSealed != "" {
		pw, err := s.Sealer.Open(u.PasswordSealed, u.SealedAt(storage.SealedPassword))
		if err != nil {
			return nil, err // the user exists: retried, not failed for good
		}
		if reveal, err = s.Sealer.Seal(pw, u.SealedAt(storage.SealedOpSecret)); err != nil {
			return nil, err
		}
	}
	return func(x *storage.User) {
		x.State = stateOf(x)
		if x.PasswordGenerated && x.PasswordSealed != "" && reveal != "" {
			s.machine().SetSecret(x, reveal) // initial_password, revealed once
		}
		x.PasswordSealed, x.PasswordGenerated = "", false
	}, nil
}

func stateOf(u *storage.User) string {
	if !u.AccountEnabled {
		return storage.StateDisabled
	}
	return storage.StateActive
}

// createEffect creates the user exactly once. After an unknown outcome the
// user principal name (the natural key) finds what an earlier call made.
// "Already exists" on a first call is this attempt's own user only when
// Microsoft created it after the attempt began (a retried POST); otherwise
// somebody else's user holds the login and it is refused, never adopted.
func (s *Service) createEffect(g Graph) lifecycle.Effect[storage.User] {
	record := func(id string) func(*storage.User) { return func(x *storage.User) { x.MSUserID = id } }
	return lifecycle.Effect[storage.User]{Step: stepCreate,
		ReadBack: func(ctx context.Context, u *storage.User) (func(*storage.User), error) {
			found, err := g.FindUser(ctx, u.Login)
			if err != nil || found == nil {
				return nil, mserr.Job(err)
			}
			s.Log.InfoContext(ctx, "user found by read-back after an interrupted create", "user_id", u.ID, "ms_user_id", found.ID)
			return record(found.ID), nil
		},
		Call: func(ctx context.Context, u *storage.User, _ string) (func(*storage.User), error) {
			pw, err := s.Sealer.Open(u.PasswordSealed, u.SealedAt(storage.SealedPassword))
			if err != nil {
				return nil, jobs.Permanent(err)
			}
			local, _, _ := strings.Cut(u.Login, "@")
			enabled := u.AccountEnabled
			created, err := g.CreateUser(ctx, graph.User{UserPrincipalName: u.Login, DisplayName: u.DisplayName, GivenName: u.FirstName,
				Surname: u.LastName, MailNickname: nickname(local), UsageLocation: u.UsageLocation, AccountEnabled: &enabled,
				PasswordProfile: &graph.PasswordProfile{Password: pw.Reveal(), ForceChangePasswordNextSignIn: true}})
			if err == nil {
				s.Log.InfoContext(ctx, "user created", "user_id", u.ID, "ms_user_id", created.ID)
				return record(created.ID), nil
			}
			if !alreadyExists(err) {
				return nil, mserr.Job(err)
			}
			found, ferr := g.FindUser(ctx, u.Login)
			if ferr != nil {
				return nil, mserr.Job(ferr) // unknown yet: retried, the step stays sent
			}
			if found != nil && (found.CreatedDateTime == nil || !found.CreatedDateTime.Before(u.Op.StartedAt.Add(-time.Minute))) {
				return record(found.ID), nil
			}
			return nil, jobs.Permanent(apierr.New(codes.AlreadyExists, apierr.UserAlreadyExists,
				"A user %s was created in the customer's Microsoft tenant by somebody else meanwhile. Synchronize the tenant to adopt it, or choose another login.", u.Login))
		}}
}

func alreadyExists(err error) bool {
	e, ok := graph.AsError(err)
	return ok && e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "already exists")
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
	if err != nil && !invalidUsageLocation(err) && heldAtMicrosoft(ctx, g, u.MSUserID, want) {
		// An earlier call whose answer was lost already did it (Graph refuses
		// to remove a license the user no longer holds): read back, not fail.
		err = nil
	}
	if err != nil {
		if e, ok := graph.AsError(err); ok && e.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Message), "available licenses") {
			return jobs.Permanent(apierr.Wrap(err, codes.FailedPrecondition, apierr.NotEnoughLicenses, "No free licenses left: %s", e.Message))
		}
		if invalidUsageLocation(err) {
			return err // still replicating: the job retries with backoff
		}
		return mserr.Job(err)
	}
	return s.machine().Save(ctx, u, func(x *storage.User) { x.Assigned = want })
}

// heldAtMicrosoft tells whether the user holds exactly the SKUs want.
func heldAtMicrosoft(ctx context.Context, g Graph, msUserID string, want []string) bool {
	cur, err := g.GetUser(ctx, msUserID)
	if err != nil {
		return false
	}
	var held []string
	for _, l := range cur.AssignedLicenses {
		held = append(held, strings.ToLower(l.SKUID))
	}
	w := append([]string(nil), want...)
	slices.Sort(held)
	slices.Sort(w)
	return slices.Equal(held, w)
}
