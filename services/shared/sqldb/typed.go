package sqldb

import (
	"context"
	"encoding/json"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/rowcache"
)

// Keys tells where a document's envelope fields are.
type Keys[T any] func(v *T) (id, instanceID, parentID, state string, version *int64)

// Typed keeps values of one Go type as JSON documents in a Docs table and
// returns the storage sentinels (storeerr) directly.
type Typed[T any] struct {
	Docs Docs
	Keys Keys[T]
	// Cache, when set, makes Get decode a document again only when its
	// JSON changed since it was last read (package rowcache).
	Cache *rowcache.Cache[T]
}

func (t Typed[T]) record(v *T) (Record, error) {
	id, inst, parent, state, version := t.Keys(v)
	data, err := json.Marshal(v)
	return Record{ID: id, InstanceID: inst, ParentID: parent, State: state, Version: *version, Data: data}, err
}

// decode unmarshals a record, through cache when one is given: Get reads
// one document again and again, a listing walks many once (and would only
// churn the cache).
func (t Typed[T]) decode(r Record, cache *rowcache.Cache[T]) (*T, error) {
	unmarshal := func() (T, error) {
		var v T
		err := json.Unmarshal(r.Data, &v)
		return v, err
	}
	var v T
	var err error
	if cache != nil {
		v, err = cache.Decode(r.ID, []string{string(r.Data)}, unmarshal)
	} else {
		v, err = unmarshal()
	}
	if err != nil {
		return nil, err
	}
	_, _, _, _, version := t.Keys(&v)
	*version = r.Version
	return &v, nil
}

// Create stores v (version 1) and job atomically.
func (t Typed[T]) Create(ctx context.Context, v *T, job *jobs.New) error {
	_, _, _, _, version := t.Keys(v)
	*version = 1
	r, err := t.record(v)
	if err != nil {
		return err
	}
	return t.Docs.Create(ctx, r, job)
}

// Get reads one value.
func (t Typed[T]) Get(ctx context.Context, instanceID, id string) (*T, error) {
	r, err := t.Docs.Get(ctx, instanceID, id)
	if err != nil {
		return nil, err
	}
	return t.decode(r, t.Cache)
}

// Update writes v if its version is current, bumps it, and commits job.
func (t Typed[T]) Update(ctx context.Context, v *T, job *jobs.New) error {
	r, err := t.record(v)
	if err != nil {
		return err
	}
	next, err := t.Docs.Update(ctx, r, job)
	if err != nil {
		return err
	}
	_, _, _, _, version := t.Keys(v)
	*version = next
	return nil
}

// Delete removes one value.
func (t Typed[T]) Delete(ctx context.Context, instanceID, id string) error {
	return t.Docs.Delete(ctx, instanceID, id)
}

// List returns an instance's values under a parent.
func (t Typed[T]) List(ctx context.Context, instanceID, parentID string) ([]*T, error) {
	recs, err := t.Docs.List(ctx, instanceID, parentID)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(recs))
	for _, r := range recs {
		v, err := t.decode(r, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Scan returns up to limit values of every instance whose id sorts after
// after, in id order, whose document contains one of the given strings
// (Docs.Scan).
func (t Typed[T]) Scan(ctx context.Context, after string, limit int, contains ...string) ([]*T, error) {
	recs, err := t.Docs.Scan(ctx, after, limit, contains...)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(recs))
	for _, r := range recs {
		v, err := t.decode(r, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
