package mscloud

// Locks and the order in which they are taken.
//
// The state is split by API into three parts, each behind its own mutex:
//
//	pcService.mu     Partner Center: customers, profiles, agreements, application consents, commerce
//	graphService.mu  Graph: customer tenants and their directories (users, domains, license
//	                 assignments), GDAP relationships
//	entraService.mu  Entra: partners, their application's client secrets, access and refresh tokens
//
// and shared infrastructure behind leaf locks: Clock, settingsStore,
// faultTable, replayStore, pcBuckets, graphBudgets and dnsZone.
//
// Lock order: pcService.mu → graphService.mu → entraService.mu → leaf.
// A goroutine holding one of these locks may take only locks to its
// right; a leaf lock is never held while another lock is taken, nor while
// a request waits (replayStore.await waits with no lock held). So:
//
//   - Partner Center handlers run with pcService.mu held and may call the
//     Graph methods that take graphService.mu (gdapCovers, heldLicenses,
//     moveLicenses, addTenant, removeTenant, setOrg) and Entra's
//     (partner).
//   - Graph handlers run with graphService.mu held where they need it and
//     may call Entra (application). What they need from Partner Center
//     (the customer's commerce seats) is read before graphService.mu is
//     taken (tenantRoute, adminCreateUser): pcService.tenantSeats.
//   - Entra calls no other part. The token endpoint asks Partner Center
//     and Graph about the tenant first (resolveTenant), each under its own
//     lock in turn, then decides under entraService.mu.
//   - GET /_sim/state takes all three, in order (lockParts).
//
// A request that crosses parts without holding their locks together sees
// each part at one instant, not all parts at the same instant: e.g. a
// Graph call uses the seats Partner Center had when the call began.

// lockParts takes the three part locks in order and returns the function
// that releases them.
func (s *Server) lockParts() (unlock func()) {
	s.pc.mu.Lock()
	s.graph.mu.Lock()
	s.entra.mu.Lock()
	return func() {
		s.entra.mu.Unlock()
		s.graph.mu.Unlock()
		s.pc.mu.Unlock()
	}
}
