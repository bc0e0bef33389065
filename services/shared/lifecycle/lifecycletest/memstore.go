// Package lifecycletest holds the test fakes shared by the services' domain
// tests: an in-memory, versioned store of any resource type that behaves as
// the SQL stores do (optimistic concurrency, jobs committed with writes).
package lifecycletest

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Keys tells where a value's id, instance and version are.
type Keys[T any] func(v *T) (instanceID, id string, version *int64)

// Store is an in-memory store of T values, copied through JSON as the SQL
// stores do, recording the jobs committed with each write.
type Store[T any] struct {
	Keys Keys[T]

	mu   sync.Mutex
	rows map[string][]byte
	jobs []jobs.New
}

// NewStore returns an empty store.
func NewStore[T any](keys Keys[T]) *Store[T] { return &Store[T]{Keys: keys, rows: map[string][]byte{}} }

func key(inst, id string) string { return inst + "/" + id }

// Create stores v (version 1) and job.
func (s *Store[T]) Create(_ context.Context, v *T, job *jobs.New) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, id, ver := s.Keys(v)
	if _, ok := s.rows[key(inst, id)]; ok {
		return storeerr.ErrAlreadyExists
	}
	*ver = 1
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.rows[key(inst, id)] = b
	s.addJob(job)
	return nil
}

// Get returns a copy of the stored value.
func (s *Store[T]) Get(_ context.Context, instanceID, id string) (*T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.rows[key(instanceID, id)]
	if !ok {
		return nil, storeerr.ErrNotFound
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Update writes v if its version is current and bumps it.
func (s *Store[T]) Update(_ context.Context, v *T, job *jobs.New) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, id, ver := s.Keys(v)
	b, ok := s.rows[key(inst, id)]
	if !ok {
		return storeerr.ErrNotFound
	}
	var cur T
	if err := json.Unmarshal(b, &cur); err != nil {
		return err
	}
	_, _, curVer := s.Keys(&cur)
	if *curVer != *ver {
		return storeerr.ErrConflict
	}
	*ver++
	nb, err := json.Marshal(v)
	if err != nil {
		*ver--
		return err
	}
	s.rows[key(inst, id)] = nb
	s.addJob(job)
	return nil
}

// Delete removes a value.
func (s *Store[T]) Delete(_ context.Context, instanceID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[key(instanceID, id)]; !ok {
		return storeerr.ErrNotFound
	}
	delete(s.rows, key(instanceID, id))
	return nil
}

func (s *Store[T]) addJob(job *jobs.New) {
	if job != nil {
		s.jobs = append(s.jobs, *job)
	}
}

// Jobs returns the jobs committed so far.
func (s *Store[T]) Jobs() []jobs.New {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]jobs.New(nil), s.jobs...)
}

// TakeJobs returns and forgets the jobs committed so far.
func (s *Store[T]) TakeJobs() []jobs.New {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.jobs
	s.jobs = nil
	return out
}
