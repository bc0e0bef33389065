package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// The operators' view of the queue: listing with filters, newest first and
// paged; a failed job requeued; pending jobs of a key cancelled (never one
// a worker holds).
func TestJobInspection(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		db := open(t, url(t))
		q := sqldb.JobStore{DB: db}
		enqueue := func(j jobs.New) int64 {
			var id int64
			if err := db.InTx(ctx, func(tx *sql.Tx) error {
				var err error
				id, err = db.Enqueue(ctx, tx, j)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return id
		}
		a := enqueue(jobs.New{Kind: "tenant.provision.v2", Key: "t1", Group: "i1", MaxAttempts: 1})
		b := enqueue(jobs.New{Kind: "tenant.configure.v2", Key: "t1", Group: "i1"})
		c := enqueue(jobs.New{Kind: "tenant.provision.v2", Key: "t2", Group: "i2"})

		all, err := q.ListJobs(ctx, jobs.Filter{})
		if err != nil || len(all) != 3 || all[0].ID != c || all[2].ID != a || all[0].State != "pending" || all[0].Group != "i2" {
			t.Fatalf("all: %+v %v", all, err)
		}
		for _, f := range []struct {
			filter jobs.Filter
			want   []int64
		}{
			{jobs.Filter{Kinds: []string{"tenant.provision.v2"}}, []int64{c, a}},
			{jobs.Filter{Group: "i1"}, []int64{b, a}},
			{jobs.Filter{Keys: []string{"t2", "nope"}}, []int64{c}},
			{jobs.Filter{States: []string{"failed"}}, nil},
			{jobs.Filter{Before: c, Limit: 1}, []int64{b}},
			{jobs.Filter{OlderThan: time.Now().Add(-time.Hour)}, nil},
		} {
			got, err := q.ListJobs(ctx, f.filter)
			var ids []int64
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if err != nil || len(ids) != len(f.want) || (len(ids) > 0 && (ids[0] != f.want[0] || ids[len(ids)-1] != f.want[len(f.want)-1])) {
				t.Errorf("%+v: %v %v", f.filter, ids, err)
			}
		}

		// A provision fails for good; it can be requeued, once.
		job, err := q.Claim(ctx, "w", []string{"tenant.provision.v2"}, time.Now(), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Fail(ctx, job.ID, job.Fence, "Microsoft refused"); err != nil {
			t.Fatal(err)
		}
		if r, err := q.GetJob(ctx, job.ID); err != nil || r.State != "failed" || r.LastError != "Microsoft refused" || r.FinishedAt.IsZero() || r.Attempt != 1 {
			t.Fatalf("failed job: %+v %v", r, err)
		}
		if ok, err := q.RequeueJob(ctx, job.ID); !ok || err != nil {
			t.Fatalf("requeue: %v %v", ok, err)
		}
		if r, _ := q.GetJob(ctx, job.ID); r.State != "pending" || r.Attempt != 0 || !r.FinishedAt.IsZero() {
			t.Fatalf("requeued: %+v", r)
		}
		if ok, _ := q.RequeueJob(ctx, job.ID); ok {
			t.Fatal("a pending job was requeued")
		}
		if _, err := q.GetJob(ctx, 999999); !errors.Is(err, jobs.ErrNoJob) {
			t.Fatalf("unknown job: %v", err)
		}

		// t1's pending jobs are cancelled; a held one is not.
		held, err := q.Claim(ctx, "w", []string{"tenant.configure.v2"}, time.Now(), time.Now().Add(time.Minute))
		if err != nil || held.ID != b {
			t.Fatalf("claim: %+v %v", held, err)
		}
		want := 0
		if r, _ := q.GetJob(ctx, a); r.State == "pending" {
			want = 1
		}
		n, err := q.CancelPending(ctx, "t1", "Cancelled by tool/operator")
		if err != nil || n != want {
			t.Fatalf("cancel: %d (want %d) %v", n, want, err)
		}
		if r, _ := q.GetJob(ctx, held.ID); r.State != "running" {
			t.Fatalf("a held job was cancelled: %+v", r)
		}
	})
}
