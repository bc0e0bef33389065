package mscloudtest

import "sync"

// Hooks are answers a test injects into calls of a real Microsoft client
// (a Partner Center or Graph client talking to the simulator), each used
// once, in the order added: a precise answer where a simulator fault would
// be blunt (e.g. the answer of a call that Microsoft carried out is lost).
// A test wraps the client, embedding it, and runs the methods it overrides
// through Call.
type Hooks struct {
	mu   sync.Mutex
	next map[string][]Hook
}

// Hook is one injected answer.
type Hook struct {
	// After: Microsoft is called first, then Err is answered (the answer
	// was lost); otherwise Err is answered without calling Microsoft.
	After bool
	Err   error
}

// Add queues an answer for method.
func (h *Hooks) Add(method string, after bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next == nil {
		h.next = map[string][]Hook{}
	}
	h.next[method] = append(h.next[method], Hook{After: after, Err: err})
}

// Take returns the next answer queued for method, or nil.
func (h *Hooks) Take(method string) *Hook {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.next[method]) == 0 {
		return nil
	}
	x := h.next[method][0]
	h.next[method] = h.next[method][1:]
	return &x
}

// Call runs call under the next answer queued for method.
func Call[T any](h *Hooks, method string, call func() (T, error)) (T, error) {
	var zero T
	x := h.Take(method)
	if x != nil && !x.After {
		return zero, x.Err
	}
	out, err := call()
	if x != nil && err == nil {
		return zero, x.Err
	}
	return out, err
}
