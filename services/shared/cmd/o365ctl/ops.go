package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
	"github.com/o365gateway/gateway/services/shared/service"
)

func (a *app) auditCmd() *cobra.Command {
	var instance, caller, method, code, svc string
	var since time.Duration
	var limit int
	c := &cobra.Command{Use: "audit", Short: "Query the services' audit logs (who changed what, and how it ended)", Args: cobra.NoArgs,
		Example: "  o365ctl audit --instance <id> --since 24h\n  o365ctl audit --method /o365.tenant.v1.TenantService/ProvisionTenant -o json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			req := &adminv1.ListAuditEntriesRequest{InstanceId: instance, Caller: caller, Method: method, Code: code, PageSize: int32(limit)}
			if since > 0 {
				req.StartTime = timestamppb.New(time.Now().Add(-since))
			}
			type row struct {
				svc string
				e   *adminv1.AuditEntry
			}
			var rows []row
			for _, s := range opsclient.Services {
				if svc != "" && s != svc {
					continue
				}
				resp, err := a.client.Admin[s].ListAuditEntries(ctx, req)
				if err != nil {
					return fmt.Errorf("%s: %w", s, err)
				}
				for _, e := range resp.GetEntries() {
					rows = append(rows, row{s, e})
				}
			}
			if a.output == "json" {
				fmt.Fprint(a.out, "[")
				for i, r := range rows {
					if i > 0 {
						fmt.Fprint(a.out, ",")
					}
					fmt.Fprintf(a.out, `{"service":%q,"entry":%s}`, r.svc, jsonOf(r.e))
				}
				fmt.Fprintln(a.out, "]")
				return nil
			}
			out := make([][]string, 0, len(rows))
			for _, r := range rows {
				e := r.e
				out = append(out, []string{r.svc, fmt.Sprint(e.GetSeq()), when(e.GetTime()), e.GetCaller().GetIdentity(),
					e.GetOperation().GetMethod(), e.GetResource().GetType() + " " + e.GetResource().GetId(), e.GetOutcome().GetCode()})
			}
			return table(a.out, []string{"SERVICE", "SEQ", "TIME", "CALLER", "OPERATION", "RESOURCE", "OUTCOME"}, out)
		}}
	f := c.Flags()
	f.StringVar(&instance, "instance", "", "the APS instance")
	f.StringVar(&caller, "caller", "", "the caller's identity (SPIFFE ID)")
	f.StringVar(&method, "method", "", "the gRPC method or job kind")
	f.StringVar(&code, "code", "", "the outcome code (OK, InvalidArgument, ...)")
	f.StringVar(&svc, "service", "", "only this service")
	f.DurationVar(&since, "since", 0, "only entries of the last duration (e.g. 24h)")
	f.IntVar(&limit, "limit", 100, "at most this many per service")
	return c
}

func (a *app) keysCmd() *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "Encryption keys of the stored secrets"}
	c.AddCommand(&cobra.Command{Use: "rotate", Short: "Seal every stored secret under the active key now (each service)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			rows := [][]string{}
			for _, s := range opsclient.Services {
				resp, err := a.client.Admin[s].RotateKeys(ctx, &adminv1.RotateKeysRequest{})
				if err != nil {
					return fmt.Errorf("%s: %w", s, err)
				}
				rows = append(rows, []string{s, resp.GetActiveKey(), fmt.Sprint(resp.GetResealed())})
			}
			if a.output == "json" {
				fmt.Fprint(a.out, "[")
				for i, r := range rows {
					if i > 0 {
						fmt.Fprint(a.out, ",")
					}
					fmt.Fprintf(a.out, `{"service":%q,"active_key":%q,"resealed":%s}`, r[0], r[1], r[2])
				}
				fmt.Fprintln(a.out, "]")
				return nil
			}
			return table(a.out, []string{"SERVICE", "ACTIVE KEY", "RESEALED"}, rows)
		}})
	return c
}

func versionCmd(out io.Writer) *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print o365ctl's version", Args: cobra.NoArgs,
		Run: func(*cobra.Command, []string) { fmt.Fprintln(out, "o365ctl", service.Version) }}
}
