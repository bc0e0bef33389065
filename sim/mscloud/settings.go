package mscloud

import (
	"sync"
	"time"
)

// settings are the knobs the admin API can change at run time
// (POST /_sim/settings). Every part reads them through a settingsStore.
type settings struct {
	Replay          bool
	PartnerRPS      float64 // 0 = unlimited
	CustomerRPS     float64 // 0 = unlimited
	PurchaseRPS     float64 // 0 = off: extra per partner+customer bucket for orders and checkout
	TokenLifetime   time.Duration
	OrderCompletion time.Duration
	SlowPatch       time.Duration
	// Graph (graph_*.go).
	CustomerPropagation time.Duration // simulated clock: customer tenants refuse tokens this long after creation
	UsageLocationLag    time.Duration // real time: a new usageLocation reaches license assignment this late
	GraphWriteLimit     int           // writes per app+tenant per GraphWriteWindow
	GraphWriteWindow    time.Duration // real time
	GraphRUScale        float64       // multiplier of the resource-unit limits per app+tenant and 10 s
	RequireAppConsent   bool          // customer-tenant tokens need an application consent (pc_consents.go)
}

// settingsStore holds the current settings behind a leaf lock: callers
// take a copy (get) and use it without holding anything.
type settingsStore struct {
	mu sync.Mutex
	v  settings
}

func newSettingsStore(v settings) *settingsStore { return &settingsStore{v: v} }

// get returns a copy of the current settings.
func (st *settingsStore) get() settings {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.v
}

// update applies f to the settings in one step.
func (st *settingsStore) update(f func(*settings)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.v)
}
