package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

func (a *app) jobsCmd() *cobra.Command {
	c := &cobra.Command{Use: "jobs", Short: "List, show, retry and cancel the services' jobs"}
	var (
		states, kinds         []string
		instance, tenant, svc string
		olderThan             time.Duration
		limit                 int
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first (every service, or --service)",
		Example: "  o365ctl jobs list --state failed\n  o365ctl jobs list --instance <id> --tenant <id> -o json\n" +
			"  o365ctl jobs list --kind user --older-than 1h",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			req := &adminv1.ListJobsRequest{States: states, Kinds: kinds, InstanceId: instance, TenantId: tenant,
				OlderThanSeconds: int64(olderThan / time.Second), PageSize: int32(limit)}
			jobs, err := a.client.ListJobs(ctx, svc, req)
			if a.output == "json" {
				a.jsonJobs(jobs)
				return err
			}
			rows := make([][]string, 0, len(jobs))
			for _, j := range jobs {
				rows = append(rows, []string{j.Ref(), j.GetKind(), j.GetState(), j.GetInstanceId(), resource(j.Job), attempts(j.Job),
					ago(j.GetCreatedAt()), lastError(j.Job)})
			}
			if terr := table(a.out, []string{"JOB", "KIND", "STATE", "INSTANCE", "RESOURCE", "ATTEMPTS", "CREATED", "LAST ERROR"}, rows); terr != nil {
				return terr
			}
			return err
		},
	}
	lf := list.Flags()
	lf.StringSliceVar(&states, "state", nil, "pending, running, done or failed (repeat or comma-separate)")
	lf.StringSliceVar(&kinds, "kind", nil, "a job kind (tenant.provision.v2) or a resource type (tenant, subscription, user)")
	lf.StringVar(&instance, "instance", "", "the APS instance (APS-Instance-ID)")
	lf.StringVar(&tenant, "tenant", "", "a tenant (with --instance): its jobs and those of its resources")
	lf.StringVar(&svc, "service", "", "only this service: tenant, subscription or user")
	lf.DurationVar(&olderThan, "older-than", 0, "only jobs created longer ago than this (e.g. 30m)")
	lf.IntVar(&limit, "limit", 100, "at most this many per service")
	c.AddCommand(list)

	c.AddCommand(&cobra.Command{
		Use:   "show JOB",
		Short: "Show a job: its resource, attempts, Microsoft's error and the request ids of its steps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, id, err := opsclient.ParseRef(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.client.Admin[svc].GetJob(ctx, &adminv1.GetJobRequest{Id: id})
			if err != nil {
				return err
			}
			a.showJob(opsclient.Job{Service: svc, Job: resp.GetJob()}, "")
			return nil
		},
	})
	action := func(name, short string, do func(cmd *cobra.Command, svc string, id int64) (*adminv1.Job, string, error)) *cobra.Command {
		return &cobra.Command{
			Use:   name + " JOB",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				svc, id, err := opsclient.ParseRef(args[0])
				if err != nil {
					return err
				}
				job, msg, err := do(cmd, svc, id)
				if err != nil {
					return err
				}
				a.showJob(opsclient.Job{Service: svc, Job: job}, msg)
				return nil
			},
		}
	}
	c.AddCommand(action("retry", "Re-run a failed job (a resource's operation: a new attempt, as the platform's re-run)",
		func(cmd *cobra.Command, svc string, id int64) (*adminv1.Job, string, error) {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.client.Admin[svc].RetryJob(ctx, &adminv1.RetryJobRequest{Id: id})
			return resp.GetJob(), resp.GetMessage(), err
		}))
	c.AddCommand(action("cancel", "Cancel a job that has not reached Microsoft (the platform's next re-send gets Cancelled)",
		func(cmd *cobra.Command, svc string, id int64) (*adminv1.Job, string, error) {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.client.Admin[svc].CancelJob(ctx, &adminv1.CancelJobRequest{Id: id})
			return resp.GetJob(), resp.GetMessage(), err
		}))
	return c
}

func (a *app) jsonJobs(jobs []opsclient.Job) {
	parts := make([]string, 0, len(jobs))
	for _, j := range jobs {
		parts = append(parts, `{"ref":"`+j.Ref()+`","service":"`+j.Service+`","job":`+jsonOf(j.Job)+`}`)
	}
	fmt.Fprintln(a.out, "["+strings.Join(parts, ",")+"]")
}

func (a *app) showJob(j opsclient.Job, msg string) {
	if a.output == "json" {
		extra := ""
		if msg != "" {
			extra = `,"message":` + quote(msg)
		}
		fmt.Fprintln(a.out, `{"ref":"`+j.Ref()+`","service":"`+j.Service+`","job":`+jsonOf(j.Job)+extra+`}`)
		return
	}
	kv := [][2]string{{"job", j.Ref()}, {"kind", j.GetKind()}, {"state", j.GetState()}, {"instance", j.GetInstanceId()},
		{"resource", resource(j.Job)}, {"attempts", attempts(j.Job)}, {"created", when(j.GetCreatedAt())},
		{"run at", when(j.GetRunAt())}, {"finished", when(j.GetFinishedAt())}, {"last error", j.GetLastError()}}
	if o := j.GetOperation(); o != nil {
		kv = append(kv, [2]string{"operation", fmt.Sprintf("%s, %s, attempt %d", o.GetName(), o.GetState(), o.GetAttempt())},
			[2]string{"failure", strings.TrimPrefix(o.GetFailureReason()+": "+o.GetFailureMessage(), ": ")})
		for _, st := range o.GetSteps() {
			kv = append(kv, [2]string{"step " + st.GetName(), st.GetState() + ", MS-RequestId " + st.GetRequestId()})
		}
	}
	if msg != "" {
		kv = append(kv, [2]string{"done", msg})
	}
	fields(a.out, kv)
}

func resource(j *adminv1.Job) string {
	if r := j.GetResource(); r != nil {
		return r.GetType() + " " + r.GetId()
	}
	return ""
}

func attempts(j *adminv1.Job) string { return fmt.Sprintf("%d/%d", j.GetAttempt(), j.GetMaxAttempts()) }

// lastError is the job's own error or its operation's failure.
func lastError(j *adminv1.Job) string {
	if o := j.GetOperation(); o != nil && o.GetFailureReason() != "" && j.GetState() == "failed" {
		return o.GetFailureReason() + ": " + o.GetFailureMessage()
	}
	return j.GetLastError()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
