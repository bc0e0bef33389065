package registrar

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

type fakeStore struct {
	inst   *storage.Instance
	queued []jobs.New
}

func (f *fakeStore) GetInstance(_ context.Context, id string) (*storage.Instance, error) {
	if f.inst == nil || f.inst.InstanceID != id {
		return nil, storage.ErrNotFound
	}
	return f.inst, nil
}

func (f *fakeStore) EnqueueJobs(_ context.Context, js []jobs.New) error {
	f.queued = append(f.queued, js...)
	return nil
}

func TestRegistrationsAreJobsThatPostTheResource(t *testing.T) {
	ctx := context.Background()
	st := &fakeStore{inst: &storage.Instance{InstanceID: "i1"}}
	var posted []map[string]any
	fail := errors.New("controller down")
	s := &Service{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Register: func(_ context.Context, _ *storage.Instance, body map[string]any) error {
			posted = append(posted, body)
			if len(posted) == 1 {
				return fail
			}
			return nil
		}}
	items := []Item{{Service: "users", ID: "u1", Props: map[string]any{"login": "a@x.example"}}}
	if err := s.Enqueue(ctx, st.inst, "t1", items); err != nil || len(st.queued) != 1 || st.queued[0].Key != "u1" || st.queued[0].Kind != Kind {
		t.Fatalf("enqueue: %v %+v", err, st.queued)
	}
	if err := s.Enqueue(ctx, st.inst, "t1", []Item{{Service: "subscriptions", ID: "s"}}); err == nil {
		t.Fatal("an unknown service was planned")
	}
	job := &jobs.Job{Payload: st.queued[0].Payload, Attempt: 1}
	if err := s.Handler().Run(ctx, job); !errors.Is(err, fail) {
		t.Fatalf("a controller failure must be retried: %v", err)
	}
	if err := s.Handler().Run(ctx, job); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(posted[1])
	want := `{"aps":{"id":"u1","type":"` + apsmd.TypeUser + `"},"login":"a@x.example","tenant":{"aps":{"id":"t1"}}}`
	if string(b) != want {
		t.Fatalf("posted %s\nwant   %s", b, want)
	}
	// register_adopted=false: nothing planned, and planned jobs do nothing.
	off := false
	st.inst.Settings.RegisterAdopted = &off
	st.queued = nil
	if err := s.Enqueue(ctx, st.inst, "t1", items); err != nil || len(st.queued) != 0 {
		t.Fatalf("register_adopted=false planned %v %v", st.queued, err)
	}
	if err := s.Handler().Run(ctx, job); err != nil || len(posted) != 2 {
		t.Fatalf("register_adopted=false posted: %v %d", err, len(posted))
	}
}
