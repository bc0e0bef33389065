package sqldb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// TestDocsScan: a pass over every instance's documents in id order, one
// batch at a time, filtered by what the documents contain; LIKE's wildcards
// in the strings match only themselves.
func TestDocsScan(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		docs := thingDocs(open(t, url(t)))
		for i, data := range []string{`{"s":"v2.k.a"}`, `{}`, `{"s":"v1:b"}`, `{"s":"v2xk.c"}`, `{"n":"50%_off"}`, `{"s":"v2.k.d"}`} {
			if err := docs.Create(ctx, sqldb.Record{ID: fmt.Sprintf("d%d", i), InstanceID: fmt.Sprintf("i%d", i%2), ParentID: "p",
				Data: []byte(data)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		scan := func(limit int, contains ...string) string {
			t.Helper()
			var ids []string
			after := ""
			for {
				page, err := docs.Scan(ctx, after, limit, contains...)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					ids = append(ids, r.ID+"@"+r.InstanceID)
					after = r.ID
				}
				if len(page) < limit {
					return strings.Join(ids, " ")
				}
			}
		}
		if got := scan(2); got != "d0@i0 d1@i1 d2@i0 d3@i1 d4@i0 d5@i1" {
			t.Errorf("every document: %s", got)
		}
		if got := scan(1, `"v1:`, `"v2.`); got != "d0@i0 d2@i0 d5@i1" {
			t.Errorf("sealed-looking documents: %s", got)
		}
		if got := scan(10, `0%_`); got != "d4@i0" {
			t.Errorf("wildcards: %s", got)
		}
		if got := scan(10, `x%`); got != "" {
			t.Errorf("%% matched more than itself: %s", got)
		}
	})
}
