package users

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Configure answers PUT /users/{id}: names, usage location, sign-in, and the
// licenses (the difference is assigned and removed). A failed configure
// re-sent by the platform is applied again even when the stored
// representation already equals the request.
func (s *Service) Configure(ctx context.Context, req apsmd.Request, id string, in Input) (*View, error) {
	m := s.machine()
	u, a, d, err := m.Begin(ctx, req.InstanceID, id, lifecycle.Configure, req.Async())
	if d == lifecycle.Answered {
		return a, err
	}
	if u.State == storage.StateFailed || u.MSUserID == "" {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "The user was not created; re-run its provisioning first.")
	}
	if in.Login != "" && !strings.EqualFold(in.Login, u.Login) {
		return nil, apierr.Invalid("login cannot change.")
	}
	inst, t, g, err := s.tenantGraph(ctx, req.InstanceID, u.TenantID)
	if err != nil {
		return nil, err
	}
	next := *u
	in.Login = u.Login
	if in.DisplayName == "" && in.FirstName == "" && in.LastName == "" {
		in.DisplayName, in.FirstName, in.LastName = u.DisplayName, u.FirstName, u.LastName
	}
	if in.UsageLocation == "" {
		in.UsageLocation = u.UsageLocation
	}
	if err := applyNames(&next, in); err != nil {
		return nil, err
	}
	if in.AccountEnabled != nil {
		next.AccountEnabled = *in.AccountEnabled
	}
	if err := s.resolveLicenses(ctx, inst, t, &next, in); err != nil {
		return nil, err
	}
	changed := !sameDesired(u, &next)
	if !changed && d != lifecycle.Rerun && u.Op.Settled() {
		return m.View(u), nil
	}
	if err := s.checkSeats(ctx, g, next.Licenses, u.Assigned); err != nil {
		return nil, err
	}
	return m.Start(ctx, &next, lifecycle.Configure, changed)
}

// sameDesired tells whether two users ask the same of Microsoft.
func sameDesired(a, b *storage.User) bool {
	return a.DisplayName == b.DisplayName && a.FirstName == b.FirstName && a.LastName == b.LastName &&
		a.UsageLocation == b.UsageLocation && a.AccountEnabled == b.AccountEnabled && slices.Equal(a.Licenses, b.Licenses)
}

func (s *Service) runConfigure(ctx context.Context, u *storage.User) (func(*storage.User), error) {
	g, err := s.graphFor(ctx, u)
	if err != nil {
		return nil, err
	}
	if err := s.applyProfile(ctx, g, u); err != nil {
		return nil, err
	}
	if err := s.syncLicenses(ctx, g, u); err != nil {
		return nil, err
	}
	return func(x *storage.User) { x.State = stateOf(x) }, nil
}

// applyProfile writes the user's names, sign-in and usage location.
func (s *Service) applyProfile(ctx context.Context, g Graph, u *storage.User) error {
	patch := map[string]any{"displayName": u.DisplayName, "givenName": u.FirstName, "surname": u.LastName,
		"accountEnabled": u.AccountEnabled}
	if u.UsageLocation != "" {
		patch["usageLocation"] = u.UsageLocation
	}
	if err := g.UpdateUser(ctx, u.MSUserID, patch); err != nil {
		return mserr.Job(err)
	}
	return nil
}

// Unprovision answers DELETE /users/{id}; a nil View means done (204). It
// supersedes a running attempt: its job runs after that attempt's job (one
// job per resource at a time) and reads back what the attempt may have
// created, so nothing is left untracked at Microsoft.
func (s *Service) Unprovision(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	m := s.machine()
	u, a, d, err := m.Begin(ctx, req.InstanceID, id, lifecycle.Unprovision, req.Async())
	if d == lifecycle.Answered {
		return a, err // an unknown id is unprovisioned already (nil: 204)
	}
	if u.MSUserID == "" && !u.Op.Touched() && !u.Op.Busy() {
		return nil, ignoreMissing(s.Store.Delete(ctx, req.InstanceID, id)) // nothing exists at Microsoft
	}
	u.State = storage.StateDeleting
	return m.Start(ctx, u, lifecycle.Unprovision, false)
}

func ignoreMissing(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Service) runUnprovision(ctx context.Context, u *storage.User) (func(*storage.User), error) {
	g, err := s.graphFor(ctx, u)
	if err != nil {
		return nil, err
	}
	target := u.MSUserID
	if target == "" && u.Op.Touched() {
		found, err := g.FindUser(ctx, u.Login)
		if err != nil {
			return nil, mserr.Job(err)
		}
		if found != nil {
			target = found.ID
		}
	}
	if target != "" {
		if err := g.DeleteUser(ctx, target); err != nil {
			if e, ok := graph.AsError(err); !ok || e.StatusCode != http.StatusNotFound {
				return nil, mserr.Job(err)
			}
		}
	}
	s.Log.InfoContext(ctx, "user deleted", "user_id", u.ID, "ms_user_id", target)
	return nil, nil
}

// ResetPassword answers POST /users/{id}/resetPassword with a new temporary
// password (synchronous: one Graph call).
func (s *Service) ResetPassword(ctx context.Context, req apsmd.Request, id string) (string, error) {
	u, err := s.machine().Load(ctx, req.InstanceID, id)
	if err != nil {
		return "", err
	}
	if !s.Endpoints.PasswordResetSupported {
		return "", apierr.New(codes.FailedPrecondition, apierr.NotSupportedInCloud,
			"Microsoft does not let partners reset user passwords in the %s cloud; the customer's administrator resets it.", s.Endpoints.Cloud)
	}
	if u.MSUserID == "" || u.Op.Is(lifecycle.Provision, lifecycle.Running) {
		return "", apierr.New(codes.FailedPrecondition, apierr.Conflict, "The user does not exist at Microsoft yet.")
	}
	_, _, g, err := s.tenantGraph(ctx, req.InstanceID, u.TenantID)
	if err != nil {
		return "", err
	}
	pw := passwordFor(u.Login)
	err = g.UpdateUser(ctx, u.MSUserID, map[string]any{"passwordProfile": graph.PasswordProfile{Password: pw, ForceChangePasswordNextSignIn: true}})
	if err != nil {
		if e, ok := graph.AsError(err); ok && e.StatusCode == http.StatusForbidden {
			return "", apierr.Wrap(err, codes.FailedPrecondition, apierr.NotSupportedInCloud, "Microsoft refused the password reset: %s", e.Message)
		}
		return "", mserr.Sync(err, "reset the password")
	}
	s.Log.InfoContext(ctx, "password reset", "user_id", u.ID)
	return pw, nil
}
