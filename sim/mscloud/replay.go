package mscloud

import (
	"context"
	"net/http"
	"sync"
)

// MS-RequestId replay of Partner Center answers: shared infrastructure
// behind a leaf lock, kept apart from the Partner Center state so that a
// request waiting for a duplicate in flight holds no lock at all.
//
// A replayable request (replay on, MS-RequestId set, not GET or HEAD)
// claims its key before the work and keeps it until its answer is stored;
// a request with the same key that arrives meanwhile waits for that
// answer (await). A delay_commit fault claims the key earlier, before its
// wait (begin), so that duplicates sent during the delay wait too.

// replayKey names one stored answer.
type replayKey struct{ partner, method, path, requestID string }

// replayStore holds the stored answers and the keys being worked on.
type replayStore struct {
	mu       sync.Mutex
	answers  map[replayKey]*response
	inflight map[replayKey]chan struct{} // closed when the claim ends
}

func newReplayStore() *replayStore {
	return &replayStore{answers: map[replayKey]*response{}, inflight: map[replayKey]chan struct{}{}}
}

// replayKeyOf returns the MS-RequestId replay key of r for partner p, and
// whether r is replayable at all (replay on, MS-RequestId set, not GET or
// HEAD).
func replayKeyOf(st settings, r *http.Request, p *partner, requestID string) (replayKey, bool) {
	ok := st.Replay && requestID != "" && r.Method != http.MethodGet && r.Method != http.MethodHead
	return replayKey{p.TenantID, r.Method, r.URL.Path, requestID}, ok
}

// begin claims key unless an answer is stored for it or another request
// holds it (nil then). The claim ends with release.
func (rs *replayStore) begin(key replayKey) chan struct{} {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.answers[key] != nil || rs.inflight[key] != nil {
		return nil
	}
	own := make(chan struct{})
	rs.inflight[key] = own
	return own
}

// await returns the answer stored for key, waiting while another request
// holds the key. When nothing is stored and nobody else holds the key, the
// caller goes ahead: with claim set if await claimed the key for it (the
// caller releases it), nil if the caller already held it as own. ok is
// false if ctx ended while waiting.
func (rs *replayStore) await(ctx context.Context, key replayKey, own chan struct{}) (stored *response, claim chan struct{}, ok bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for {
		if a, found := rs.answers[key]; found {
			return a, nil, true
		}
		held := rs.inflight[key]
		switch {
		case held == nil:
			claim = make(chan struct{})
			rs.inflight[key] = claim
			return nil, claim, true
		case held == own:
			return nil, nil, true
		}
		rs.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
		}
		rs.mu.Lock()
		if ctx.Err() != nil {
			return nil, nil, false
		}
	}
}

// store keeps resp as the answer for key.
func (rs *replayStore) store(key replayKey, resp *response) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.answers[key] = resp
}

// release ends the claim own on key and wakes the requests waiting for it.
func (rs *replayStore) release(key replayKey, own chan struct{}) {
	rs.mu.Lock()
	if rs.inflight[key] == own {
		delete(rs.inflight, key)
	}
	rs.mu.Unlock()
	close(own)
}
