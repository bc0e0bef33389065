package mscloud

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault modes. What each does to the work and to MS-RequestId replay is
// documented in doc.go ("Faults").
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

// takeFault returns a copy of the first active fault matching r and counts
// the hit. A fault whose hits are used up stays listed (remaining 0, so
// GET /_sim/faults still shows its hits) but no longer matches.
func (s *Server) takeFault(api string, r *http.Request) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
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

// returnFault undoes takeFault for a hit the fault did not get to act on
// (a Partner Center refusal of a request answered before the work: 401,
// 429 or a stored MS-RequestId answer). Caller holds s.mu.
func (s *Server) returnFault(id string) {
	for _, f := range s.faults {
		if f.ID == id {
			f.Hits--
			if f.Remaining != nil {
				*f.Remaining++
			}
			return
		}
	}
}

// faultWait waits out a delay or delay_commit fault before r is served.
// delay gives up (false: serve nothing, do no work) when the client goes
// away; delay_commit waits the whole delay and detaches *r from the
// client's cancellation, so the work is done whether or not anyone is
// still there to read the answer. r's body must be buffered already.
func (s *Server) faultWait(f *fault, r **http.Request) bool {
	d := time.Duration(f.DelayMS) * time.Millisecond
	if f.Mode == faultDelay {
		return sleepCtx((*r).Context(), d)
	}
	*r = (*r).WithContext(context.WithoutCancel((*r).Context()))
	time.Sleep(d)
	return true
}

func (s *Server) addFault(f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultSeq++
	f.ID = "f" + strconv.Itoa(s.faultSeq)
	s.faults = append(s.faults, f)
}
