package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// listFlags are the filters of a resource listing.
type listFlags struct {
	instance, tenant string
	limit            int
	all              bool
}

func (l *listFlags) add(c *cobra.Command, withTenant bool) {
	c.Flags().StringVar(&l.instance, "instance", "", "the APS instance (APS-Instance-ID)")
	if withTenant {
		c.Flags().StringVar(&l.tenant, "tenant", "", "the tenant (APS id)")
	}
	c.Flags().IntVar(&l.limit, "limit", 100, "at most this many per page")
	c.Flags().BoolVar(&l.all, "all", false, "every page")
}

// list pages through one type of resource.
func (a *app) list(cmd *cobra.Command, typ string, l *listFlags) ([]*adminv1.Resource, error) {
	svc, err := opsclient.OwnerOf(typ)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	var out []*adminv1.Resource
	token := ""
	for {
		resp, err := a.client.Admin[svc].ListResources(ctx, &adminv1.ListResourcesRequest{Type: typ, InstanceId: l.instance,
			TenantId: l.tenant, PageToken: token, PageSize: int32(l.limit)})
		if err != nil {
			return out, err
		}
		out = append(out, resp.GetResources()...)
		token = resp.GetNextPageToken()
		if token == "" || !l.all {
			return out, nil
		}
	}
}

// printResources prints a listing.
func (a *app) printResources(rs []*adminv1.Resource) error {
	if a.output == "json" {
		parts := make([]string, 0, len(rs))
		for _, r := range rs {
			parts = append(parts, jsonOf(r))
		}
		fmt.Fprintln(a.out, "["+strings.Join(parts, ",")+"]")
		return nil
	}
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		op := ""
		if o := r.GetOperation(); o != nil {
			op = o.GetName() + " " + o.GetState()
			if o.GetFailureReason() != "" {
				op += " (" + o.GetFailureReason() + ")"
			}
		}
		rows = append(rows, []string{r.GetId(), r.GetName(), r.GetState(), r.GetMsId(), op})
	}
	return table(a.out, []string{"ID", "NAME", "STATE", "MICROSOFT ID", "LAST OPERATION"}, rows)
}

// printResource shows one resource.
func (a *app) printResource(r *adminv1.Resource) {
	if a.output == "json" {
		fmt.Fprintln(a.out, jsonOf(r))
		return
	}
	kv := [][2]string{{"type", r.GetType()}, {"id", r.GetId()}, {"instance", r.GetInstanceId()}, {"tenant", r.GetTenantId()},
		{"name", r.GetName()}, {"state", r.GetState()}, {"microsoft id", r.GetMsId()}}
	if o := r.GetOperation(); o != nil {
		kv = append(kv, [2]string{"operation", fmt.Sprintf("%s, %s, attempt %d", o.GetName(), o.GetState(), o.GetAttempt())},
			[2]string{"failure", strings.TrimPrefix(o.GetFailureReason()+": "+o.GetFailureMessage(), ": ")})
		for _, st := range o.GetSteps() {
			kv = append(kv, [2]string{"step " + st.GetName(), st.GetState() + ", MS-RequestId " + st.GetRequestId()})
		}
	}
	for k, v := range r.GetDetails().AsMap() {
		kv = append(kv, [2]string{strings.ReplaceAll(k, "_", " "), fmt.Sprint(v)})
	}
	fields(a.out, kv)
}

// resourceCmd is list and show of a type owned per tenant.
func (a *app) resourceCmd(plural, typ string) *cobra.Command {
	c := &cobra.Command{Use: plural, Short: "List and show " + plural}
	var l listFlags
	perTenant := typ != "instance" && typ != "tenant"
	short, example := "List "+plural, "  o365ctl "+plural+" list --instance <id>"
	if perTenant {
		short, example = "List a tenant's "+plural, example+" --tenant <id>"
	}
	if typ == "instance" {
		example = "  o365ctl instances list -o json"
	}
	list := &cobra.Command{Use: "list", Short: short, Args: cobra.NoArgs, Example: example,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := a.list(cmd, typ, &l)
			if err != nil {
				return err
			}
			return a.printResources(rs)
		}}
	l.add(list, perTenant)
	c.AddCommand(list)
	var instance string
	article := "a "
	if strings.ContainsRune("aeiou", rune(typ[0])) {
		article = "an "
	}
	show := &cobra.Command{Use: "show ID", Short: "Show " + article + typ, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.get(cmd, typ, instance, args[0])
			if err != nil {
				return err
			}
			a.printResource(r)
			return nil
		}}
	show.Flags().StringVar(&instance, "instance", "", "the APS instance (APS-Instance-ID)")
	c.AddCommand(show)
	return c
}

func (a *app) get(cmd *cobra.Command, typ, instance, id string) (*adminv1.Resource, error) {
	svc, err := opsclient.OwnerOf(typ)
	if err != nil {
		return nil, err
	}
	if typ == "instance" {
		instance = id
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	resp, err := a.client.Admin[svc].GetResource(ctx, &adminv1.GetResourceRequest{Type: typ, InstanceId: instance, Id: id})
	return resp.GetResource(), err
}

func (a *app) instancesCmd() *cobra.Command {
	c := a.resourceCmd("instances", "instance")
	var refresh bool
	health := &cobra.Command{Use: "health INSTANCE", Short: "The instance's credential and relationship health", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inst, err := a.get(cmd, "instance", args[0], args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			resp, err := a.client.Inst.GetInstanceHealth(opsclient.ForInstance(ctx, args[0]),
				&tenantv1.GetInstanceHealthRequest{Id: inst.GetName(), Refresh: refresh})
			if err != nil {
				return err
			}
			h := resp.GetHealth()
			if a.output == "json" {
				fmt.Fprintln(a.out, jsonOf(h))
				return nil
			}
			cr := h.GetCredentials()
			kv := [][2]string{{"checked", when(h.GetCheckedAt())}, {"credential", cr.GetKind() + " " + cr.GetState()},
				{"expires", when(cr.GetExpiresAt())}, {"message", cr.GetMessage()},
				{"partner center", strings.TrimSuffix(h.GetPartnerCenter().GetState()+" "+h.GetPartnerCenter().GetMessage(), " ")},
				{"graph", strings.TrimSuffix(h.GetGraph().GetState()+" "+h.GetGraph().GetMessage(), " ")},
				{"tenants at risk", fmt.Sprint(len(h.GetTenantsAtRisk()))}}
			fields(a.out, kv)
			rows := [][]string{}
			for _, r := range h.GetTenantsAtRisk() {
				rows = append(rows, []string{r.GetTenant().GetAps().GetId(), r.GetProblem(), when(r.GetExpiresAt()), r.GetMessage()})
			}
			if len(rows) > 0 {
				fmt.Fprintln(a.out)
				return table(a.out, []string{"TENANT", "PROBLEM", "DEADLINE", "MESSAGE"}, rows)
			}
			return nil
		}}
	health.Flags().BoolVar(&refresh, "refresh", false, "check now instead of showing the last periodic check")
	c.AddCommand(health)
	return c
}

func (a *app) tenantsCmd() *cobra.Command {
	c := a.resourceCmd("tenants", "tenant")
	var instance string
	sync := &cobra.Command{Use: "sync TENANT", Short: "Synchronize a tenant with Microsoft (waits, showing progress)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp *tenantv1.SynchronizeTenantResponse
			err := a.await(cmd, instance, func(ctx context.Context, opts ...grpc.CallOption) (bool, error) {
				var err error
				resp, err = a.client.Tenant.SynchronizeTenant(ctx, &tenantv1.SynchronizeTenantRequest{Id: args[0]}, opts...)
				return resp.GetReport() != nil, err
			})
			if err != nil {
				return err
			}
			rep := resp.GetReport()
			if a.output == "json" {
				fmt.Fprintln(a.out, jsonOf(rep))
				return nil
			}
			fmt.Fprintf(a.out, "synchronized at %s: %d change(s)\n", when(rep.GetSynchronizedAt()), len(rep.GetChanges()))
			rows := [][]string{}
			for _, ch := range rep.GetChanges() {
				rows = append(rows, []string{ch.GetKind(), ch.GetChange(), ch.GetName(), ch.GetDetail()})
			}
			return table(a.out, []string{"KIND", "CHANGE", "NAME", "DETAIL"}, rows)
		}}
	sync.Flags().StringVar(&instance, "instance", "", "the APS instance (APS-Instance-ID)")
	var refresh bool
	drift := &cobra.Command{Use: "drift TENANT", Short: "The tenant's drift report (--refresh: check now, waiting for it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp *tenantv1.GetTenantDriftResponse
			err := a.await(cmd, instance, func(ctx context.Context, opts ...grpc.CallOption) (bool, error) {
				var err error
				resp, err = a.client.Tenant.GetTenantDrift(ctx, &tenantv1.GetTenantDriftRequest{Id: args[0], Refresh: refresh}, opts...)
				return resp.GetReport() != nil, err
			})
			if err != nil {
				return err
			}
			rep := resp.GetReport()
			if a.output == "json" {
				fmt.Fprintln(a.out, jsonOf(rep))
				return nil
			}
			fmt.Fprintf(a.out, "checked at %s: %d item(s)\n", when(rep.GetCheckedAt()), len(rep.GetItems()))
			rows := [][]string{}
			for i, it := range rep.GetItems() {
				commerce := ""
				if it.GetCommerce() {
					commerce = "buys/cancels"
				}
				rows = append(rows, []string{fmt.Sprint(i), it.GetKind(), it.GetProblem(), it.GetMsId(), it.GetRepair(), commerce, it.GetMessage()})
			}
			return table(a.out, []string{"#", "KIND", "PROBLEM", "MICROSOFT ID", "REPAIR", "", "MESSAGE"}, rows)
		}}
	drift.Flags().StringVar(&instance, "instance", "", "the APS instance (APS-Instance-ID)")
	drift.Flags().BoolVar(&refresh, "refresh", false, "check now")
	c.AddCommand(sync, drift)
	return c
}

// await calls an operation the way APSC does: first in the sync phase,
// then, while it answers 202 (aps-async-info), again in the async phase,
// printing its progress, until it is done.
func (a *app) await(cmd *cobra.Command, instance string, call func(ctx context.Context, opts ...grpc.CallOption) (bool, error)) error {
	if instance == "" {
		return fmt.Errorf("--instance is required")
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	phase := "sync"
	last := ""
	for {
		var header metadata.MD
		c := metadata.AppendToOutgoingContext(opsclient.ForInstance(ctx, instance), apsmd.RequestPhase, phase)
		done, err := call(c, grpc.Header(&header))
		if err != nil {
			return err
		}
		info := header.Get(apsmd.AsyncInfo)
		if len(info) == 0 {
			if !done {
				return fmt.Errorf("the service answered neither a report nor progress")
			}
			return nil
		}
		if info[0] != last && a.output != "json" {
			fmt.Fprintln(a.errOut, "…", info[0])
			last = info[0]
		}
		phase = "async"
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
