package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
)

// Resources are the resources a service owns, for the operators' tools:
// listed and shown, and their operations retried and cancelled through
// their lifecycle (lifecycle.Machine.Retry and Cancel).
type Resources interface {
	// Types are the resource types the service owns (tenant, user, ...),
	// which are also the first part of their operations' job kinds.
	Types() []string
	// List returns one page of a type's resources.
	List(ctx context.Context, typ, instanceID, tenantID, pageToken string, size int) ([]*adminv1.Resource, string, error)
	// Get returns one resource (apierr NotFound when unknown).
	Get(ctx context.Context, typ, instanceID, id string) (*adminv1.Resource, error)
	// TenantKeys are the job keys of a tenant and of its resources here.
	TenantKeys(ctx context.Context, instanceID, tenantID string) ([]string, error)
	// Retry starts a new attempt of a resource's failed operation.
	Retry(ctx context.Context, typ, instanceID, id string) error
	// Cancel ends a resource's running operation before Microsoft is called.
	Cancel(ctx context.Context, typ, instanceID, id, by string) error
}

// Job page sizes.
const (
	defaultJobPage = 100
	maxJobPage     = 1000
)

// job states of the queue.
var jobStates = map[string]bool{"pending": true, "running": true, "done": true, "failed": true}

// ListJobs implements the RPC.
func (s *Server) ListJobs(ctx context.Context, req *adminv1.ListJobsRequest) (*adminv1.ListJobsResponse, error) {
	if s.Jobs == nil {
		return nil, apierr.New(codes.Unimplemented, apierr.NotFound, "This service keeps no jobs.")
	}
	if err := authz.RequireInstance(ctx, req.GetInstanceId()); err != nil {
		return nil, err
	}
	f := jobs.Filter{Group: req.GetInstanceId(), Before: req.GetBeforeId(), Limit: int(req.GetPageSize())}
	if f.Limit <= 0 {
		f.Limit = defaultJobPage
	}
	if f.Limit > maxJobPage {
		return nil, apierr.Invalid("page_size must be at most %d.", maxJobPage)
	}
	for _, st := range req.GetStates() {
		if !jobStates[st] {
			return nil, apierr.Invalid("state %q is not one of pending, running, done, failed.", st)
		}
		f.States = append(f.States, st)
	}
	for _, k := range req.GetKinds() {
		if k == "" || len(k) > 100 {
			return nil, apierr.Invalid("kind %q is not a job kind.", k)
		}
		f.Kinds = append(f.Kinds, s.kindsOf(k)...)
	}
	if len(req.GetKinds()) > 0 && len(f.Kinds) == 0 {
		return &adminv1.ListJobsResponse{}, nil // a resource type this service does not own
	}
	if n := req.GetOlderThanSeconds(); n < 0 {
		return nil, apierr.Invalid("older_than_seconds must not be negative.")
	} else if n > 0 {
		f.OlderThan = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if t := req.GetTenantId(); t != "" {
		if req.GetInstanceId() == "" {
			return nil, apierr.Invalid("A tenant filter needs its instance (instance_id).")
		}
		keys, err := s.tenantKeys(ctx, req.GetInstanceId(), t)
		if err != nil {
			return nil, err
		}
		f.Keys = keys
	}
	recs, err := s.Jobs.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &adminv1.ListJobsResponse{Jobs: make([]*adminv1.Job, 0, len(recs))}
	for i := range recs {
		out.Jobs = append(out.Jobs, s.jobMessage(ctx, &recs[i]))
	}
	if len(recs) == f.Limit {
		out.NextBeforeId = recs[len(recs)-1].ID
	}
	return out, nil
}

// kindsOf expands a resource type to its operations' kinds; a job kind
// stays itself.
func (s *Server) kindsOf(k string) []string {
	if strings.Contains(k, ".") {
		return []string{k}
	}
	if s.Resources == nil {
		return nil
	}
	for _, typ := range s.Resources.Types() {
		if typ == k {
			var out []string
			for _, op := range []string{lifecycle.Provision, lifecycle.Configure, lifecycle.Unprovision, "upgrade", "verify"} {
				out = append(out, typ+"."+op+".v2")
			}
			return out
		}
	}
	return nil
}

// tenantKeys are the job keys of a tenant's resources in this service.
func (s *Server) tenantKeys(ctx context.Context, instanceID, tenantID string) ([]string, error) {
	if s.Resources == nil {
		return []string{tenantID}, nil
	}
	keys, err := s.Resources.TenantKeys(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	return append(keys, tenantID), nil
}

// GetJob implements the RPC.
func (s *Server) GetJob(ctx context.Context, req *adminv1.GetJobRequest) (*adminv1.GetJobResponse, error) {
	r, err := s.job(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &adminv1.GetJobResponse{Job: s.jobMessage(ctx, r)}, nil
}

// job reads a job the caller may see.
func (s *Server) job(ctx context.Context, id int64) (*jobs.Record, error) {
	if s.Jobs == nil {
		return nil, apierr.New(codes.Unimplemented, apierr.NotFound, "This service keeps no jobs.")
	}
	if id <= 0 {
		return nil, apierr.Invalid("id must be a job id.")
	}
	r, err := s.Jobs.GetJob(ctx, id)
	if errors.Is(err, jobs.ErrNoJob) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "No job %d in this service.", id)
	}
	if err != nil {
		return nil, err
	}
	if all, ids := authz.Scope(ctx); !all && (r.Group == "" || !contains(ids, r.Group)) {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "No job %d in this service.", id) // not a hint to others' jobs
	}
	return r, nil
}

// RetryJob implements the RPC.
func (s *Server) RetryJob(ctx context.Context, req *adminv1.RetryJobRequest) (*adminv1.RetryJobResponse, error) {
	r, err := s.job(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if r.State != "failed" {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "Job %d is %s: only a failed job is retried.", r.ID, r.State)
	}
	msg := ""
	if typ, p, ok := s.lifecycleJob(r); ok {
		if err := s.Resources.Retry(ctx, typ, p.InstanceID, p.ID); err != nil {
			return nil, err
		}
		msg = "A new attempt of the " + typ + "'s " + p.Op + " runs as a new job; the platform's next re-send gets its outcome."
	} else {
		ok, err := s.Jobs.RequeueJob(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "Job %d changed meanwhile; look at it again.", r.ID)
		}
		msg = "The job is queued again."
	}
	s.audit(ctx, "retry", r)
	fresh, err := s.Jobs.GetJob(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return &adminv1.RetryJobResponse{Job: s.jobMessage(ctx, fresh), Message: msg}, nil
}

// CancelJob implements the RPC.
func (s *Server) CancelJob(ctx context.Context, req *adminv1.CancelJobRequest) (*adminv1.CancelJobResponse, error) {
	r, err := s.job(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if r.State != "pending" && r.State != "running" {
		return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "Job %d is %s: only a pending or running job is cancelled.", r.ID, r.State)
	}
	by := authz.Caller(ctx)
	msg := ""
	if typ, p, ok := s.lifecycleJob(r); ok {
		if err := s.Resources.Cancel(ctx, typ, p.InstanceID, p.ID, by); err != nil {
			return nil, err
		}
		// Its job would end quietly when it runs (superseded); it ends now.
		if _, err := s.Jobs.CancelPending(ctx, r.Key, "Cancelled by an operator ("+by+")"); err != nil {
			return nil, err
		}
		msg = "The " + typ + "'s " + p.Op + " failed with the reason Cancelled; the platform's next re-send gets it."
	} else {
		if r.State == "running" {
			return nil, apierr.New(codes.FailedPrecondition, apierr.Conflict, "Job %d is running and may be calling Microsoft; it cannot be cancelled.", r.ID)
		}
		n, err := s.Jobs.CancelPending(ctx, r.Key, "Cancelled by an operator ("+by+")")
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, apierr.New(codes.Aborted, apierr.Conflict, "Job %d was taken by a worker meanwhile; it cannot be cancelled.", r.ID)
		}
		msg = "The job is cancelled."
	}
	s.audit(ctx, "cancel", r)
	fresh, err := s.Jobs.GetJob(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return &adminv1.CancelJobResponse{Job: s.jobMessage(ctx, fresh), Message: msg}, nil
}

// lifecycleJob tells whether a job carries out a resource's operation, and
// which.
func (s *Server) lifecycleJob(r *jobs.Record) (string, *lifecycle.Payload, bool) {
	if s.Resources == nil {
		return "", nil, false
	}
	var p lifecycle.Payload
	if json.Unmarshal(r.Payload, &p) != nil || p.Op == "" || p.ID == "" {
		return "", nil, false
	}
	for _, typ := range s.Resources.Types() {
		if r.Kind == typ+"."+p.Op+".v2" {
			return typ, &p, true
		}
	}
	return "", nil, false
}

// jobMessage renders a job with its resource and, for an operation, the
// resource's operation state.
func (s *Server) jobMessage(ctx context.Context, r *jobs.Record) *adminv1.Job {
	m := &adminv1.Job{Id: r.ID, Kind: r.Kind, State: r.State, InstanceId: r.Group, Attempt: int32(r.Attempt),
		MaxAttempts: int32(r.MaxAttempts), RunAt: ts(r.RunAt), CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt),
		FinishedAt: ts(r.FinishedAt), LastError: r.LastError}
	if typ, p, ok := s.lifecycleJob(r); ok {
		m.Resource = &adminv1.AuditResource{Type: typ, Id: p.ID}
		if res, err := s.Resources.Get(ctx, typ, p.InstanceID, p.ID); err == nil {
			m.Operation = res.GetOperation()
		}
	} else if r.Key != "" {
		typ, _, _ := strings.Cut(r.Kind, ".")
		id := r.Key
		if k, rest, ok := strings.Cut(r.Key, ":"); ok { // drift:<tenant>, sync:<tenant>
			typ, id = k, rest
		}
		m.Resource = &adminv1.AuditResource{Type: typ, Id: id}
	}
	return m
}

// audit records an operator's action on a job.
func (s *Server) audit(ctx context.Context, action string, r *jobs.Record) {
	if s.Log != nil {
		s.Log.InfoContext(ctx, "job "+action+" by an operator", "job_id", r.ID, "kind", r.Kind, "key", r.Key, "by", authz.Caller(ctx))
	}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// OperationMessage renders a resource's lifecycle state.
func OperationMessage(o *lifecycle.Op) *adminv1.ResourceOperation {
	if o == nil || o.Name == "" {
		return nil
	}
	m := &adminv1.ResourceOperation{Name: o.Name, State: o.State, Attempt: int32(o.Attempt), FailureReason: o.FailureReason,
		FailureMessage: o.FailureMessage, StartedAt: ts(o.StartedAt), FinishedAt: ts(o.FinishedAt)}
	names := make([]string, 0, len(o.Steps))
	for name := range o.Steps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := o.Steps[name]
		m.Steps = append(m.Steps, &adminv1.OperationStep{Name: name, State: st.State, RequestId: st.RequestID})
	}
	return m
}
