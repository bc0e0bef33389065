package jobs

import (
	"context"
	"time"
)

// Record is a job as an operator sees it (the admin API): its row, without
// the lease bookkeeping.
type Record struct {
	ID          int64
	Kind        string
	Key         string
	Group       string // the APS instance
	Payload     []byte
	State       string // pending, running, done or failed
	Attempt     int
	MaxAttempts int
	RunAt       time.Time
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time
}

// Filter selects jobs; empty fields select everything.
type Filter struct {
	States []string
	Kinds  []string
	Group  string
	// Keys are the resources' ids (a tenant and what belongs to it).
	Keys []string
	// OlderThan selects jobs created before it.
	OlderThan time.Time
	// After pages: jobs with a smaller id (newest first).
	Before int64
	Limit  int
}

// Inspector is what the admin API needs of a service's queue.
type Inspector interface {
	// ListJobs returns the jobs that match, newest first.
	ListJobs(ctx context.Context, f Filter) ([]Record, error)
	// GetJob returns one job (ErrNoJob when unknown).
	GetJob(ctx context.Context, id int64) (*Record, error)
	// RequeueJob makes a failed job pending again with its attempts
	// reset, for a job that is not a resource's operation (those are
	// retried through their lifecycle). It answers false when the job is
	// not failed.
	RequeueJob(ctx context.Context, id int64) (bool, error)
	// CancelPending ends the pending jobs of key that no worker holds,
	// recording why, and answers how many it ended.
	CancelPending(ctx context.Context, key, why string) (int, error)
}
