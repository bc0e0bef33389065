package sqldb_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/o365gateway/gateway/services/shared/rowcache"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// thing is a document with a list a reader might change.
type thing struct {
	ID, InstanceID, ParentID, State string
	Version                         int64
	Tags                            []string
}

// A cached Typed hands every Get its own copy, decodes again once the
// document changed, and keeps listings out of the cache.
func TestTypedCacheReadsAreIndependent(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		cache := &rowcache.Cache[thing]{}
		typed := sqldb.Typed[thing]{Docs: thingDocs(open(t, url(t))), Cache: cache,
			Keys: func(v *thing) (string, string, string, string, *int64) {
				return v.ID, v.InstanceID, v.ParentID, v.State, &v.Version
			}}
		if err := typed.Create(ctx, &thing{ID: "a", InstanceID: "i", ParentID: "p", Tags: []string{"x"}}, nil); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := typed.Get(ctx, "i", "a")
			if err != nil || got.Tags[0] != "x" || got.Version != 1 {
				t.Fatalf("get: %+v %v", got, err)
			}
			got.Tags[0] = "changed by a reader"
		}
		got, _ := typed.Get(ctx, "i", "a")
		got.Tags = append(got.Tags, "y")
		if err := typed.Update(ctx, got, nil); err != nil {
			t.Fatal(err)
		}
		again, err := typed.Get(ctx, "i", "a")
		if err != nil || len(again.Tags) != 2 || again.Tags[0] != "x" || again.Version != 2 {
			b, _ := json.Marshal(again)
			t.Fatalf("after the update: %s %v", b, err)
		}
		if _, err := typed.List(ctx, "i", "p"); err != nil {
			t.Fatal(err)
		}
		if cache.Len() != 1 {
			t.Errorf("%d documents cached, want 1 (listings are not cached)", cache.Len())
		}
	})
}
