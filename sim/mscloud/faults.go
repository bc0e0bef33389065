package mscloud

import (
	"net/http"
	"strconv"
	"strings"
)

// Fault modes.
const (
	faultError            = "error"
	faultErrorAfterCommit = "error_after_commit"
	faultThrottle         = "throttle"
	faultDelay            = "delay"
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
	Remaining         *int   `json:"remaining"` // nil: until cleared
	Hits              int    `json:"hits"`
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
	case faultThrottle:
		f.Status = http.StatusTooManyRequests
		if f.RetryAfterSeconds < 0 {
			return "retry_after_seconds must be >= 0"
		}
		if f.RetryAfterSeconds == 0 {
			f.RetryAfterSeconds = 1
		}
	case faultDelay:
		if f.DelayMS <= 0 {
			return "delay_ms must be > 0 for mode delay"
		}
	default:
		return `mode must be "error", "error_after_commit", "throttle" or "delay"`
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

// takeFault returns the first active fault matching r and uses up one of
// its hits; faults whose hits are used up are removed.
func (s *Server) takeFault(api string, r *http.Request) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(api, r) {
			continue
		}
		f.Hits++
		if f.Remaining != nil {
			*f.Remaining--
			if *f.Remaining <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		cp := *f
		return &cp
	}
	return nil
}

func (s *Server) addFault(f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultSeq++
	f.ID = "f" + strconv.Itoa(s.faultSeq)
	s.faults = append(s.faults, f)
}
