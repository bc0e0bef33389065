package domains

import (
	"strings"

	"github.com/o365gateway/gateway/services/shared/graph"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Remote is a custom domain as Microsoft has it.
type Remote struct {
	Name  string // lower case
	State string // storage.DomainVerified or DomainUnverified
	// Local is the platform's domain of that name; nil when only
	// Microsoft has it.
	Local *storage.Domain
}

// Compare sets a tenant's domains at Microsoft (its initial domain left
// out) beside the platform's: every custom domain Microsoft has, with the
// platform's of the same name if any, and the platform's domains Microsoft
// no longer has. The synchronization and the drift check both start here.
func Compare(local []*storage.Domain, remote []graph.Domain) (atMicrosoft []Remote, gone []*storage.Domain) {
	byName := map[string]*storage.Domain{}
	for _, d := range local {
		byName[d.Name] = d
	}
	seen := map[string]bool{}
	for _, r := range remote {
		name := strings.ToLower(r.ID)
		seen[name] = true
		if r.IsInitial {
			continue
		}
		state := storage.DomainUnverified
		if r.IsVerified {
			state = storage.DomainVerified
		}
		atMicrosoft = append(atMicrosoft, Remote{Name: name, State: state, Local: byName[name]})
	}
	for _, d := range local {
		if !seen[d.Name] {
			gone = append(gone, d)
		}
	}
	return atMicrosoft, gone
}
