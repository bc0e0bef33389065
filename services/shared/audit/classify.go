package audit

import "strings"

// readPrefixes begin the names of the gRPC methods that only read: they
// are not changes and are not recorded.
var readPrefixes = []string{"Get", "List", "Resolve", "Check", "Export"}

// readMethods are the reads whose names do not say so, by full method name.
var readMethods = []string{
	// Issues a short-lived access token: the tenant service reads its
	// stored credentials (a refresh-token rotation it may cause is the
	// tenant service's own bookkeeping, not a change anyone asked for).
	"/o365.tenant.v1.InstanceService/IssueAccessToken",
}

// readServices are gRPC services that change nothing (full name prefix).
var readServices = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// IsChange tells whether a gRPC method (its full name,
// "/o365.tenant.v1.TenantService/ProvisionTenant") changes state, and so is
// recorded. The reads are named explicitly: methods beginning with Get,
// List, Resolve, Check or Export, the methods of readMethods (e.g.
// IssueAccessToken) and the health and reflection services. Every other
// method, a new or unknown one included, counts as a change.
func IsChange(fullMethod string) bool {
	for _, s := range readServices {
		if strings.HasPrefix(fullMethod, s) {
			return false
		}
	}
	for _, m := range readMethods {
		if fullMethod == m {
			return false
		}
	}
	i := strings.LastIndexByte(fullMethod, '/')
	if i < 0 {
		return true
	}
	name := fullMethod[i+1:]
	for _, p := range readPrefixes {
		// GetX is a read; "Getaway" is not a Get method.
		if rest, ok := strings.CutPrefix(name, p); ok && (rest == "" || rest[0] >= 'A' && rest[0] <= 'Z') {
			return false
		}
	}
	return true
}
