package users

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/graph"
	"github.com/o365gateway/gateway/services/shared/jobs"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Configure answers PUT /users/{id}: names, usage location, sign-in, and the
// licenses (the difference is assigned and removed).
func (s *Service) Configure(ctx context.Context, req apsmd.Request, id string, in Input) (*View, error) {
	u, err := s.load(ctx, req.InstanceID, id)
	if err != nil {
		return nil, err
	}
	if req.Async() || u.Operation == storage.OpConfigure && u.OperationState == storage.OpRunning {
		return s.outcome(u, storage.OpConfigure)
	}
	if u.OperationState == storage.OpRunning {
		return nil, apierr.New(codes.Aborted, apierr.Conflict, "The user is busy (%s in progress); try again when it has finished.", u.Operation)
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
	if err := s.checkSeats(ctx, g, next.Licenses, u.Assigned); err != nil {
		return nil, err
	}
	next.Operation, next.OperationState, next.FailureReason, next.FailureMessage = storage.OpConfigure, storage.OpRunning, "", ""
	if err := s.Store.Update(ctx, &next, newJob(KindConfigure, &next)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "The user changed meanwhile; try again.")
		}
		return nil, err
	}
	s.notify()
	return &View{User: &next, Accepted: describe(storage.OpConfigure, &next)}, nil
}

func (s *Service) runConfigure(ctx context.Context, job *jobs.Job) error {
	u, g, err := s.jobUser(ctx, job, storage.OpConfigure)
	if err != nil || u == nil {
		return err
	}
	patch := map[string]any{"displayName": u.DisplayName, "givenName": u.FirstName, "surname": u.LastName,
		"accountEnabled": u.AccountEnabled}
	if u.UsageLocation != "" {
		patch["usageLocation"] = u.UsageLocation
	}
	if err := g.UpdateUser(ctx, u.MSUserID, patch); err != nil {
		return jobError(err)
	}
	if err := s.syncLicenses(ctx, g, u); err != nil {
		return err
	}
	return s.mutate(ctx, u, func(x *storage.User) { x.State, x.OperationState = stateOf(x), storage.OpDone })
}

// Unprovision answers DELETE /users/{id}; a nil View means done (204).
func (s *Service) Unprovision(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	if !apsmd.IsID(id) {
		return nil, apierr.Invalid("The user id %q is not a UUID.", id)
	}
	u, err := s.Store.Get(ctx, req.InstanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if u.Operation == storage.OpUnprovision && (u.OperationState == storage.OpRunning || req.Async()) {
		if v, err := s.outcome(u, storage.OpUnprovision); err != nil || v.Accepted != "" {
			return v, err
		}
	}
	if u.MSUserID == "" && !u.CreateSent {
		return nil, ignoreMissing(s.Store.Delete(ctx, req.InstanceID, id))
	}
	u.State, u.Operation, u.OperationState, u.FailureReason, u.FailureMessage = storage.StateDeleting, storage.OpUnprovision, storage.OpRunning, "", ""
	if err := s.Store.Update(ctx, u, newJob(KindUnprovision, u)); err != nil {
		return nil, err
	}
	s.notify()
	return &View{User: u, Accepted: describe(storage.OpUnprovision, u)}, nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Service) runUnprovision(ctx context.Context, job *jobs.Job) error {
	u, g, err := s.jobUser(ctx, job, storage.OpUnprovision)
	if err != nil || u == nil {
		return err
	}
	target := u.MSUserID
	if target == "" {
		found, err := g.FindUser(ctx, u.Login)
		if err != nil {
			return jobError(err)
		}
		if found != nil {
			target = found.ID
		}
	}
	if target != "" {
		if err := g.DeleteUser(ctx, target); err != nil {
			if e, ok := graph.AsError(err); !ok || e.StatusCode != http.StatusNotFound {
				return jobError(err)
			}
		}
	}
	s.Log.InfoContext(ctx, "user deleted", "user_id", u.ID, "ms_user_id", target)
	return ignoreMissing(s.Store.Delete(ctx, u.InstanceID, u.ID))
}

// ResetPassword answers POST /users/{id}/resetPassword with a new temporary
// password (synchronous: one Graph call).
func (s *Service) ResetPassword(ctx context.Context, req apsmd.Request, id string) (string, error) {
	u, err := s.load(ctx, req.InstanceID, id)
	if err != nil {
		return "", err
	}
	if !s.Endpoints.PasswordResetSupported {
		return "", apierr.New(codes.FailedPrecondition, apierr.NotSupportedInCloud,
			"Microsoft does not let partners reset user passwords in the %s cloud; the customer's administrator resets it.", s.Endpoints.Cloud)
	}
	if u.MSUserID == "" || u.OperationState == storage.OpRunning && u.Operation == storage.OpProvision {
		return "", apierr.New(codes.FailedPrecondition, apierr.Conflict, "The user does not exist at Microsoft yet.")
	}
	_, _, g, err := s.tenantGraph(ctx, req.InstanceID, u.TenantID)
	if err != nil {
		return "", err
	}
	pw := NewPassword()
	err = g.UpdateUser(ctx, u.MSUserID, map[string]any{"passwordProfile": graph.PasswordProfile{Password: pw, ForceChangePasswordNextSignIn: true}})
	if err != nil {
		if e, ok := graph.AsError(err); ok && e.StatusCode == http.StatusForbidden {
			return "", apierr.Wrap(err, codes.FailedPrecondition, apierr.NotSupportedInCloud, "Microsoft refused the password reset: %s", e.Message)
		}
		return "", fromGraph(err, "reset the password")
	}
	s.Log.InfoContext(ctx, "password reset", "user_id", u.ID)
	return pw, nil
}
