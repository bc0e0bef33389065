package lifecycle_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
)

// racingStore makes one concurrent update land between the pass's read and
// its write.
type racingStore struct {
	lifecycle.Store[thing]
	race func()
}

func (s *racingStore) Update(ctx context.Context, v *thing, job *jobs.New) error {
	if r := s.race; r != nil {
		s.race = nil
		r()
	}
	return s.Store.Update(ctx, v, job)
}

// Reseal re-seals the operation's secret under the active key without
// losing a write made meanwhile, and writes nothing when nothing is stale.
func TestResealKeepsConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.create(t)
	at := func(v *thing) secret.Place { return secret.At("thing", v.Inst, v.ID, "op_secret") }
	fields := func(v *thing) []secret.Field { return []secret.Field{{Value: &v.Op.Secret, At: at(v)}} }
	old, _ := secret.NewKeyring(map[string][]byte{"old": bytes.Repeat([]byte{1}, 32)}, "old")
	ring, _ := secret.NewKeyring(map[string][]byte{"old": bytes.Repeat([]byte{1}, 32), "new": bytes.Repeat([]byte{2}, 32)}, "new")

	v := f.get(t)
	sealed, _ := old.Seal(secret.New("pw"), at(v))
	if err := f.m.Mutate(ctx, v, func(v *thing) error { v.Op.Secret = sealed; return nil }); err != nil {
		t.Fatal(err)
	}
	racing := &racingStore{Store: f.store, race: func() {
		w := f.get(t)
		w.MSID = "written meanwhile"
		if err := f.store.Update(ctx, w, nil); err != nil {
			t.Fatal(err)
		}
	}}
	f.m.Store = racing
	v = f.get(t)
	if n, err := f.m.Reseal(ctx, v, ring, fields); n != 1 || err != nil {
		t.Fatalf("re-sealed %d: %v", n, err)
	}
	got := f.get(t)
	if got.MSID != "written meanwhile" || !strings.HasPrefix(got.Op.Secret, "v2.new.") {
		t.Fatalf("after the pass: %+v", got)
	}
	if pw, err := ring.Open(got.Op.Secret, at(got)); err != nil || pw.Reveal() != "pw" {
		t.Fatalf("%v", err)
	}
	version := got.Version
	if n, err := f.m.Reseal(ctx, got, ring, fields); n != 0 || err != nil || f.get(t).Version != version {
		t.Fatalf("a second pass re-sealed %d (%v) or wrote", n, err)
	}

	// A value under a key the keyring lacks is reported, not dropped.
	newOnly, _ := secret.NewKeyring(map[string][]byte{"newer": bytes.Repeat([]byte{3}, 32)}, "newer")
	if _, err := f.m.Reseal(ctx, got, newOnly, fields); err == nil {
		t.Fatal("no error for an unknown key")
	}
	if err := f.store.Delete(ctx, got.Inst, got.ID); err != nil {
		t.Fatal(err)
	}
	got.Op.Secret = sealed
	if n, err := f.m.Reseal(ctx, got, ring, fields); n != 0 || err != nil {
		t.Fatalf("a resource gone: %d %v", n, err)
	}
}
