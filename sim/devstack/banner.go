package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/o365gateway/gateway/sim/apsc"
)

// Banner describes the running stack for a person: every URL, address,
// certificate and log file, and the demo partner's credentials (the
// simulator's, not real ones) when p is not nil.
func (s *Stack) Banner(p *apsc.Partner) string {
	var b strings.Builder
	row := func(label, value string) { fmt.Fprintf(&b, "  %-28s %s\n", label, value) }

	fmt.Fprintf(&b, "o365gateway dev stack is running (cloud: %s)\n\n", s.Cloud)
	row("APS facade (endpoint URI)", s.FacadeURL)
	row("  health", s.FacadeBaseURL+"/healthz")
	row("  metrics (admin listener)", "http://"+s.AdminAddr[Facade]+"/metrics")
	row("  OpenAPI", s.FacadeBaseURL+"/openapi.json")
	row("  certificate to trust", displayPath(s.FacadeCAFile))
	row("  APS-Retry-Timeout", s.opts.RetryTimeout.String())
	row("tenant service (gRPC, mTLS)", s.TenantGRPCAddr)
	tool := s.Mesh[ToolIdentity]
	row("  try", fmt.Sprintf("grpcurl -cacert %s -cert %s -key %s %s list", displayPath(tool.CA), displayPath(tool.Cert),
		displayPath(tool.Key), firstAddr(s.TenantGRPCAddr)))
	row("  admin listener", "http://"+s.AdminAddr[Tenant]+"/metrics")
	row("development CA (mTLS)", displayPath(s.PKIDir))
	row("subscription service (gRPC)", s.SubscriptionGRPCAddr)
	row("user service (gRPC)", s.UserGRPCAddr)
	row("Microsoft simulator", s.SimURL)
	row("  admin API", s.SimAdminURL)
	row("  CA certificate", displayPath(s.SimCAFile))
	if p != nil {
		row("demo CSP partner", "(simulator credentials)")
		row("  tenant_id", p.TenantID)
		row("  client_id", p.ClientID)
		row("  client_secret", p.ClientSecret)
	}
	row("work directory", displayPath(s.WorkDir))
	for _, name := range Processes {
		row("log: "+name, displayPath(s.LogFiles[name]))
	}
	row("traces", displayPath(filepath.Join(s.WorkDir, "traces-*.jsonl")))
	row("operator's tool", "bin/o365ctl (reads "+displayPath(filepath.Join(s.WorkDir, "stack.json"))+")")
	fmt.Fprintf(&b, "\nTry:\n")
	fmt.Fprintf(&b, "  bin/o365ctl instances list\n")
	fmt.Fprintf(&b, "  bin/o365ctl jobs list --state failed\n")
	fmt.Fprintf(&b, "  curl --cacert %s %s/healthz\n", displayPath(s.FacadeCAFile), s.FacadeBaseURL)
	fmt.Fprintf(&b, "  apsc demo -facade %s -facade-ca %s -sim %s -sim-ca %s\n",
		s.FacadeURL, displayPath(s.FacadeCAFile), s.SimURL, displayPath(s.SimCAFile))
	return b.String()
}

// displayPath shortens a path relative to the working directory when it
// lies below it.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return p
	}
	return "./" + rel
}
