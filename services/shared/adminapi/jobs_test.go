package adminapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
)

// queue is a jobs.Inspector over a fixed set of records.
type queue struct {
	recs      []jobs.Record
	filter    jobs.Filter
	requeued  []int64
	cancelled []string
}

func (q *queue) ListJobs(_ context.Context, f jobs.Filter) ([]jobs.Record, error) {
	q.filter = f
	return q.recs, nil
}

func (q *queue) GetJob(_ context.Context, id int64) (*jobs.Record, error) {
	for i := range q.recs {
		if q.recs[i].ID == id {
			return &q.recs[i], nil
		}
	}
	return nil, jobs.ErrNoJob
}

func (q *queue) RequeueJob(_ context.Context, id int64) (bool, error) {
	q.requeued = append(q.requeued, id)
	return true, nil
}

func (q *queue) CancelPending(_ context.Context, key, _ string) (int, error) {
	q.cancelled = append(q.cancelled, key)
	return 1, nil
}

// owned is an adminapi.Resources of tenants whose calls are recorded.
type owned struct{ retried, cancelled []string }

func (o *owned) Types() []string { return []string{"tenant"} }
func (o *owned) List(context.Context, string, string, string, string, int) ([]*adminv1.Resource, string, error) {
	return nil, "", nil
}
func (o *owned) Get(_ context.Context, typ, inst, id string) (*adminv1.Resource, error) {
	return &adminv1.Resource{Type: typ, Id: id, InstanceId: inst, Operation: &adminv1.ResourceOperation{Name: "provision", State: "failed",
		FailureReason: apierr.MicrosoftUnavailable}}, nil
}
func (o *owned) TenantKeys(context.Context, string, string) ([]string, error) {
	return []string{"d1"}, nil
}
func (o *owned) Retry(_ context.Context, _, _, id string) error {
	o.retried = append(o.retried, id)
	return nil
}
func (o *owned) Cancel(_ context.Context, _, _, id, _ string) error {
	o.cancelled = append(o.cancelled, id)
	return nil
}

func TestJobsThroughTheirResources(t *testing.T) {
	ctx := context.Background()
	payload, _ := json.Marshal(lifecycle.Payload{V: 1, InstanceID: "i1", ID: "t1", Op: "provision", Attempt: 2})
	q := &queue{recs: []jobs.Record{
		{ID: 7, Kind: "tenant.provision.v2", Key: "t1", Group: "i1", Payload: payload, State: "failed", LastError: "Microsoft refused", CreatedAt: time.Now()},
		{ID: 8, Kind: "tenant.register.v1", Key: "u9", Group: "i1", Payload: []byte(`{"service":"users"}`), State: "failed"},
		{ID: 9, Kind: "tenant.drift.v1", Key: "drift:t1", Group: "i1", Payload: []byte(`{}`), State: "running"},
	}}
	res := &owned{}
	s := &adminapi.Server{Jobs: q, Resources: res}

	list, err := s.ListJobs(ctx, &adminv1.ListJobsRequest{States: []string{"failed"}, Kinds: []string{"tenant"}, InstanceId: "i1",
		TenantId: "t1", OlderThanSeconds: 60})
	if err != nil || len(list.GetJobs()) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	if f := q.filter; len(f.Kinds) < 3 || f.Kinds[0] != "tenant.provision.v2" || f.Group != "i1" || len(f.Keys) != 2 || f.OlderThan.IsZero() {
		t.Fatalf("filter: %+v", f)
	}
	j := list.GetJobs()[0]
	if j.GetResource().GetType() != "tenant" || j.GetResource().GetId() != "t1" || j.GetOperation().GetFailureReason() != apierr.MicrosoftUnavailable ||
		j.GetLastError() != "Microsoft refused" || j.GetInstanceId() != "i1" {
		t.Fatalf("job view: %v", j)
	}
	if r := list.GetJobs()[2].GetResource(); r.GetType() != "drift" || r.GetId() != "t1" {
		t.Fatalf("a tenant's drift job: %v", r)
	}
	for _, bad := range []*adminv1.ListJobsRequest{{States: []string{"weird"}}, {TenantId: "t1"}, {PageSize: 5000}, {OlderThanSeconds: -1}} {
		if _, err := s.ListJobs(ctx, bad); apierr.From(err).Reason != apierr.InvalidRequest {
			t.Errorf("%v: %v", bad, err)
		}
	}

	// A resource's operation is retried through its lifecycle; another
	// failed job is queued again; a running job other than an operation
	// is not cancelled.
	if _, err := s.RetryJob(ctx, &adminv1.RetryJobRequest{Id: 7}); err != nil || len(res.retried) != 1 || len(q.requeued) != 0 {
		t.Fatalf("retry of an operation: %v %v %v", err, res.retried, q.requeued)
	}
	if _, err := s.RetryJob(ctx, &adminv1.RetryJobRequest{Id: 8}); err != nil || len(q.requeued) != 1 {
		t.Fatalf("retry of a registration: %v %v", err, q.requeued)
	}
	if _, err := s.RetryJob(ctx, &adminv1.RetryJobRequest{Id: 9}); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("retry of a running job: %v", err)
	}
	if _, err := s.CancelJob(ctx, &adminv1.CancelJobRequest{Id: 9}); apierr.From(err).Reason != apierr.Conflict {
		t.Fatalf("cancel of a running drift check: %v", err)
	}
	q.recs[0].State = "pending"
	if _, err := s.CancelJob(ctx, &adminv1.CancelJobRequest{Id: 7}); err != nil || len(res.cancelled) != 1 || q.cancelled[0] != "t1" {
		t.Fatalf("cancel of an operation: %v %v %v", err, res.cancelled, q.cancelled)
	}
	if _, err := s.GetJob(ctx, &adminv1.GetJobRequest{Id: 404}); apierr.From(err).Reason != apierr.NotFound {
		t.Fatalf("unknown job: %v", err)
	}
}

func TestPage(t *testing.T) {
	ids := []string{"c", "a", "e", "b", "d"}
	id := func(s string) string { return s }
	page, next := adminapi.Page(ids, id, "", 2)
	if len(page) != 2 || page[0] != "a" || page[1] != "b" || next != "b" {
		t.Fatalf("first: %v %q", page, next)
	}
	page, next = adminapi.Page(ids, id, next, 2)
	if len(page) != 2 || page[0] != "c" || next != "d" {
		t.Fatalf("second: %v %q", page, next)
	}
	page, next = adminapi.Page(ids, id, next, 2)
	if len(page) != 1 || page[0] != "e" || next != "" {
		t.Fatalf("last: %v %q", page, next)
	}
	if page, _ := adminapi.Page(ids, id, "z", 2); len(page) != 0 {
		t.Fatalf("past the end: %v", page)
	}
}
