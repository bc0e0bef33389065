package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/gdap"
	"github.com/o365gateway/gateway/services/shared/jobs"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Synchronizations the platform requests run as a job (RunKind). The
// request waits for it up to SyncWait and answers its report; a tenant
// larger than LargeTenant users (at its last synchronization), or a run that
// takes longer, is answered 202 with its progress in APS-Info, and the
// platform's re-sends get the report once it is done.
const (
	RunKind     = "tenant.sync.v1"
	SyncWait    = 10 * time.Second
	LargeTenant = 500
	// runLease: a run that shows no progress for this long is taken as
	// dead, and a new request starts another (its job is retried by the
	// runner meanwhile).
	runLease = time.Hour
	// maxStoredChanges bounds the report kept for the re-sends.
	maxStoredChanges = 5000
)

// Request answers POST /tenants/{id}/synchronize. running with progress:
// answer 202.
func (s *Service) Request(ctx context.Context, req apsmd.Request, tenantID string) (rep *Report, progress string, running bool, err error) {
	inst, err := s.Instances.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, "", false, err
	}
	t, err := s.active(ctx, inst.InstanceID, tenantID)
	if err != nil {
		return nil, "", false, err
	}
	now := time.Now()
	r := t.SyncRun
	switch {
	case r.State == "running" && (req.Async() || r.LeaseUntil.After(now)):
		// A re-send never starts another run: the job is the runner's
		// to retry until it ends.
		return nil, progressOf(r), true, nil
	case req.Async() && r.State == "done" && r.Report != nil:
		return reportOf(r.Report), "", false, nil
	case req.Async() && r.State == "failed":
		return nil, "", false, failure(r)
	}
	// Refusals known now are answered now (4xx), not after a 202.
	if err := gdap.Require(inst.AppUser(), &t.GDAP); err != nil {
		return nil, "", false, err
	}
	b, _ := json.Marshal(runRef{InstanceID: inst.InstanceID, TenantID: t.ID})
	job := &jobs.New{Kind: RunKind, Key: "sync:" + t.ID, Group: inst.InstanceID, Payload: b, MaxAttempts: 5}
	for try := 0; ; try++ {
		t.SyncRun = storage.SyncRun{State: "running", Progress: "queued", RequestedAt: now.UTC(), LeaseUntil: now.Add(runLease), UsersSeen: r.UsersSeen}
		err := s.Store.UpdateTenant(ctx, t, job)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrConflict) || try == 5 {
			return nil, "", false, err
		}
		if t, err = s.active(ctx, inst.InstanceID, tenantID); err != nil {
			return nil, "", false, err
		}
		if t.SyncRun.State == "running" && t.SyncRun.LeaseUntil.After(now) {
			return nil, progressOf(t.SyncRun), true, nil // another request started one meanwhile
		}
	}
	if s.Notify != nil {
		s.Notify()
	}
	if r.UsersSeen > LargeTenant {
		return nil, progressOf(t.SyncRun), true, nil
	}
	deadline := time.NewTimer(SyncWait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, "", false, ctx.Err()
		case <-deadline.C:
			return nil, progressOf(t.SyncRun), true, nil
		case <-tick.C:
		}
		cur, err := s.Store.GetTenant(ctx, inst.InstanceID, t.ID)
		if err != nil {
			return nil, "", false, err
		}
		switch cur.SyncRun.State {
		case "done":
			return reportOf(cur.SyncRun.Report), "", false, nil
		case "failed":
			return nil, "", false, failure(cur.SyncRun)
		}
		t = cur
	}
}

// failure is the answer of a failed run: a failed asynchronous operation
// (500) with the reason it failed for.
func failure(r storage.SyncRun) error {
	reason := r.FailureReason
	if reason == "" {
		reason = apierr.MicrosoftUnavailable
	}
	return apierr.JobFailed(codes.FailedPrecondition, reason, "The synchronization failed: %s", r.Failure)
}

func progressOf(r storage.SyncRun) string {
	msg := "Synchronizing the tenant with Microsoft: " + r.Progress
	if r.UsersSeen > 0 {
		msg += fmt.Sprintf(" (about %d users)", r.UsersSeen)
	}
	return msg
}

type runRef struct {
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
}

// RunHandler is the synchronization job.
func (s *Service) RunHandler() jobs.Handler {
	finish := func(ctx context.Context, p runRef, change func(*storage.SyncRun)) error {
		for try := 0; try < 5; try++ {
			t, err := s.Store.GetTenant(ctx, p.InstanceID, p.TenantID)
			if err != nil {
				return err
			}
			change(&t.SyncRun)
			if err := s.Store.UpdateTenant(ctx, t, nil); !errors.Is(err, storage.ErrConflict) {
				return err
			}
		}
		return storage.ErrConflict
	}
	return jobs.Handler{Run: func(ctx context.Context, job *jobs.Job) error {
		var p runRef
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return jobs.Permanent(err)
		}
		rep, err := s.synchronize(ctx, p.InstanceID, p.TenantID, func(step string) {
			_ = finish(ctx, p, func(r *storage.SyncRun) { r.Progress, r.LeaseUntil = step, time.Now().Add(runLease) })
		})
		switch e := apierr.From(err); {
		case err == nil:
		case e.Reason == apierr.Conflict:
			return jobs.Snooze(5*time.Second, err) // another synchronization holds the tenant
		case e.Code == codes.NotFound || e.Reason == apierr.UnknownInstance || e.Reason == apierr.TenantNotReady:
			return jobs.Permanent(err)
		default:
			return err
		}
		stored := storeReport(rep)
		return finish(ctx, p, func(r *storage.SyncRun) {
			r.State, r.Progress, r.Report, r.Failure, r.UsersSeen = "done", "done", stored, "", rep.Users
		})
	}, Failed: func(ctx context.Context, job *jobs.Job, cause error) error {
		var p runRef
		if json.Unmarshal(job.Payload, &p) != nil {
			return nil
		}
		e := apierr.From(cause)
		return finish(ctx, p, func(r *storage.SyncRun) { r.State, r.Failure, r.FailureReason = "failed", e.Message, e.Reason })
	}}
}

func storeReport(rep *Report) *storage.SyncReport {
	out := &storage.SyncReport{At: rep.At, Changes: []storage.SyncChange{}}
	for i, c := range rep.Changes {
		if i == maxStoredChanges {
			out.Changes = append(out.Changes, storage.SyncChange{Kind: "report", Change: "truncated",
				Detail: fmt.Sprintf("%d more changes", len(rep.Changes)-maxStoredChanges)})
			break
		}
		out.Changes = append(out.Changes, storage.SyncChange{Kind: c.Kind, Change: c.Change, ID: c.ID, Name: c.Name, Detail: c.Detail})
	}
	return out
}

func reportOf(r *storage.SyncReport) *Report {
	out := &Report{At: r.At}
	for _, c := range r.Changes {
		out.Changes = append(out.Changes, Change{Kind: c.Kind, Change: c.Change, ID: c.ID, Name: c.Name, Detail: c.Detail})
	}
	return out
}
