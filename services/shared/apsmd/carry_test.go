package apsmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"

	"github.com/o365gateway/gateway/services/shared/logging"
)

// The transaction of the request that started some work reaches the
// work's context through the carrier, and nothing else does.
func TestCarryTransaction(t *testing.T) {
	req := WithRequest(context.Background(), Request{InstanceID: "i-1", TransactionID: "tx-1", ActorID: "a-1"})
	carrier := propagation.MapCarrier{}
	Carry{}.Inject(req, carrier)
	if len(carrier) != 1 || carrier.Get(carriedTransaction) != "tx-1" {
		t.Fatalf("carrier %v: want the transaction id alone", carrier)
	}
	work := Carry{}.Extract(context.Background(), carrier)
	if got := FromContext(work); got != (Request{TransactionID: "tx-1"}) {
		t.Fatalf("the work's request: %+v", got)
	}
	var out bytes.Buffer
	logging.New(&out, "info", "test").InfoContext(work, "job step")
	if !strings.Contains(out.String(), `"aps_transaction_id":"tx-1"`) {
		t.Fatalf("the work's log line does not name the transaction: %s", out.String())
	}

	none := propagation.MapCarrier{}
	Carry{}.Inject(context.Background(), none)
	if len(none) != 0 {
		t.Fatalf("a context without a transaction carried %v", none)
	}
	ctx := context.Background()
	if (Carry{}).Extract(ctx, none) != ctx {
		t.Fatal("an empty carrier changed the context")
	}
}
