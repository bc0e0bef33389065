package devstack

import (
	"strings"

	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// ToolConfig is what the operators' tools (o365ctl, the console) need to
// reach the stack: the services' addresses and the tool's certificate.
func (s *Stack) ToolConfig() opsclient.Config {
	tool := s.Mesh[ToolIdentity]
	return opsclient.Config{
		Addresses: map[string]string{"tenant": s.TenantGRPCAddr, "subscription": s.SubscriptionGRPCAddr, "user": s.UserGRPCAddr},
		CAFile:    tool.CA, CertFile: tool.Cert, KeyFile: tool.Key, TrustDomain: TrustDomain,
		FacadeURL: s.FacadeURL, SimURL: s.SimURL,
	}
}

// WriteStackFile writes the tools' configuration into the work directory
// (.run/stack.json under make run), where o365ctl finds it with no flags.
func (s *Stack) WriteStackFile() error { return opsclient.WriteStack(s.WorkDir, s.ToolConfig()) }

// firstAddr is the first replica of an address list.
func firstAddr(list string) string { return strings.Split(list, ",")[0] }
