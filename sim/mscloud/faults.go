package mscloud

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Injected faults (POST /_sim/faults): shared infrastructure of the login,
// Partner Center and Graph front doors.

// Fault modes. What each does to the work and to MS-RequestId replay is
// documented in BEHAVIOUR.md ("Faults").
const (
	faultError            = "error"              // answer an error at once; no work, nothing stored
	faultErrorAfterCommit = "error_after_commit" // do the work (stored for replay), answer an error
	faultRefuse           = "refuse"             // definite 4xx refusal; no work; Partner Center stores it for replay
	faultThrottle         = "throttle"           // 429 with Retry-After; no work, nothing stored
	faultDelay            = "delay"              // wait, then serve; a client that gave up meanwhile gets nothing done
	faultDelayCommit      = "delay_commit"       // wait, then serve and store even if the client gave up
)

// fault is an injected failure. JSON names are the admin API's.
type fault struct {
	ID                string `json:"id"`
	API               string `json:"api"`
	Method            string `json:"method"`
	Path              string `json:"path"`
	Mode              string `json:"mode"`
	Status            int    `json:"status"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
	DelayMS           int    `json:"delay_ms"`
	Count             int    `json:"count"`
	Remaining         *int   `json:"remaining"` // nil: until cleared; 0: used up (still listed)
	Hits              int    `json:"hits"`      // requests the fault has applied to
}

// validate fills defaults and checks f; it returns a message for a 400.
func (f *fault) validate() string {
	switch f.API {
	case apiPartnerCenter, apiGraph, apiLogin:
	default:
		return `api must be "partnercenter", "graph" or "login"`
	}
	f.Method = strings.ToUpper(strings.TrimSpace(f.Method))
	if f.Path != "" && !strings.HasPrefix(f.Path, "/") {
		return "path must start with /"
	}
	if f.Count < 0 {
		return "count must be >= 0 (0 = until cleared)"
	}
	switch f.Mode {
	case faultError, faultErrorAfterCommit:
		if f.Status == 0 {
			f.Status = http.StatusInternalServerError
		}
		if f.Status < 400 || f.Status > 599 {
			return "status must be between 400 and 599"
		}
	case faultRefuse:
		if f.Status == 0 {
			f.Status = http.StatusBadRequest
		}
		// 401 and 429 come before the work and are never stored for
		// replay; 408 is a timeout, not a refusal.
		switch {
		case f.Status < 400 || f.Status > 499:
			return "status must be between 400 and 499 for mode refuse"
		case f.Status == http.StatusUnauthorized, f.Status == http.StatusRequestTimeout, f.Status == http.StatusTooManyRequests:
			return "status 401, 408 and 429 are not refusals: use mode error or throttle"
		}
	case faultThrottle:
		f.Status = http.StatusTooManyRequests
		if f.RetryAfterSeconds < 0 {
			return "retry_after_seconds must be >= 0"
		}
		if f.RetryAfterSeconds == 0 {
			f.RetryAfterSeconds = 1
		}
	case faultDelay, faultDelayCommit:
		if f.DelayMS <= 0 {
			return "delay_ms must be > 0 for mode " + f.Mode
		}
	default:
		return `mode must be "error", "error_after_commit", "refuse", "throttle", "delay" or "delay_commit"`
	}
	if f.Count > 0 {
		n := f.Count
		f.Remaining = &n
	}
	return ""
}

func (f *fault) matches(api string, r *http.Request) bool {
	return f.API == api && (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path)
}

func (f *fault) usedUp() bool { return f.Remaining != nil && *f.Remaining <= 0 }

// faultTable is the list of injected faults, behind a leaf lock.
type faultTable struct {
	mu   sync.Mutex
	list []*fault // creation order
	seq  int      // last id number given
}

// take returns a copy of the first active fault matching r and counts the
// hit. A fault whose hits are used up stays listed (remaining 0, so
// GET /_sim/faults still shows its hits) but no longer matches.
func (ft *faultTable) take(api string, r *http.Request) *fault {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, f := range ft.list {
		if f.usedUp() || !f.matches(api, r) {
			continue
		}
		f.Hits++
		if f.Remaining != nil {
			*f.Remaining--
		}
		cp := *f
		cp.Remaining = nil // shared with the listed fault; callers need neither
		return &cp
	}
	return nil
}

// giveBack undoes take for a hit the fault did not get to act on (a
// Partner Center refusal of a request answered before the work: 401, 429
// or a stored MS-RequestId answer).
func (ft *faultTable) giveBack(id string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, f := range ft.list {
		if f.ID == id {
			f.Hits--
			if f.Remaining != nil {
				*f.Remaining++
			}
			return
		}
	}
}

// add gives f the next id and appends it.
func (ft *faultTable) add(f *fault) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.seq++
	f.ID = "f" + strconv.Itoa(ft.seq)
	ft.list = append(ft.list, f)
}

// snapshot copies the listed faults, creation order.
func (ft *faultTable) snapshot() []fault {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	out := make([]fault, 0, len(ft.list))
	for _, f := range ft.list {
		cp := *f
		if f.Remaining != nil {
			n := *f.Remaining
			cp.Remaining = &n
		}
		out = append(out, cp)
	}
	return out
}

// clear removes every fault (ids keep counting).
func (ft *faultTable) clear() {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.list = nil
}

// remove deletes the fault with id; false if there is none.
func (ft *faultTable) remove(id string) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for i, f := range ft.list {
		if f.ID == id {
			ft.list = append(ft.list[:i:i], ft.list[i+1:]...)
			return true
		}
	}
	return false
}

// faultWait waits out a delay or delay_commit fault before r is served.
// delay gives up (false: serve nothing, do no work) when the client goes
// away; delay_commit waits the whole delay and detaches *r from the
// client's cancellation, so the work is done whether or not anyone is
// still there to read the answer. r's body must be buffered already.
func faultWait(f *fault, r **http.Request) bool {
	d := time.Duration(f.DelayMS) * time.Millisecond
	if f.Mode == faultDelay {
		return sleepCtx((*r).Context(), d)
	}
	*r = (*r).WithContext(context.WithoutCancel((*r).Context()))
	time.Sleep(d)
	return true
}
