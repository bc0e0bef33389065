package lifecycle

import (
	"context"
	"sort"

	"github.com/o365gateway/gateway/services/shared/audit"
)

// AuditTo returns a Finished hook that records each ended attempt in l, as
// the asynchronous outcome of its operation: the job's kind, the attempt,
// the outcome (OK, or the failure's code and reason) and Microsoft's request
// ids of the operation's steps ("step=MS-RequestId"). The caller is the
// service itself (l.Self).
func AuditTo(l *audit.Log) func(context.Context, Finish) {
	return func(ctx context.Context, f Finish) {
		e := audit.Entry{Kind: audit.KindJob, InstanceID: audit.SafeID(f.InstanceID), Caller: audit.Caller{Identity: l.Self},
			Resource:  audit.Resource{Type: f.Resource, ID: audit.SafeID(f.ID)},
			Operation: audit.Operation{Method: f.JobKind, Attempt: f.Attempt},
			Outcome:   audit.Outcome{Code: "OK"}}
		if f.Err != nil {
			e.Outcome = audit.Outcome{Code: f.Err.Code.String(), Reason: f.Err.Reason}
		}
		for step, s := range f.Steps {
			if s.RequestID != "" {
				e.MSRequestIDs = append(e.MSRequestIDs, audit.SafeID(step)+"="+audit.SafeID(s.RequestID))
			}
		}
		sort.Strings(e.MSRequestIDs)
		l.Add(ctx, e)
	}
}
