package gcpace

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	set := Settings{Interval: time.Second, MaxHeap: 64 * mib}
	cases := []struct {
		name string
		s    Stats
		rate float64
		want int
		// max overrides set.MaxHeap when not 0.
		max uint64
	}{
		// Idle: Go's default.
		{"idle", Stats{Live: 6 * mib, Roots: 1 * mib}, 100 << 10, 100, 0},
		// 28 MiB/s over a 7 MiB base: the heap may grow 28 MiB, 400%.
		{"busy", Stats{Live: 6 * mib, Roots: 1 * mib}, 28 * mib, 400, 0},
		// 1 GiB/s would ask for 14,600%; the goal stops at 64 MiB:
		// 6 + 7 × 828% ≈ 64.
		{"capped", Stats{Live: 6 * mib, Roots: 1 * mib}, 1 << 30, 828, 0},
		// A live heap near the cap leaves Go's default, never less.
		{"near the cap", Stats{Live: 60 * mib, Roots: 1 * mib}, 1 << 30, 100, 0},
		{"over the cap", Stats{Live: 80 * mib}, 1 << 30, 100, 0},
		// A heap under the runtime's 4 MiB minimum counts as 4 MiB, so
		// that the runtime's goal (4 MiB × percent) stays within the cap:
		// 16 MiB/s over 4 MiB is 400%; 1 GiB/s stops at 64/4 = 1,600%.
		{"empty", Stats{}, 16 * mib, 400, 0},
		{"small", Stats{Live: 2 * mib, Roots: mib / 2}, 1 << 30, 1550, 0},
		// The percent never passes what the runtime can take.
		{"huge cap", Stats{Live: 6 * mib, Roots: 1 * mib}, 1 << 50, MaxPercent, 1 << 50},
	}
	for _, c := range cases {
		set := set
		if c.max != 0 {
			set.MaxHeap = c.max
		}
		if got := Percent(c.s, c.rate, set); got != c.want {
			t.Errorf("%s: Percent = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestStep(t *testing.T) {
	var applied []int
	p := pacer{set: Settings{Interval: time.Second, MaxHeap: 64 * mib}, current: DefaultPercent,
		apply: func(n int) int { applied = append(applied, n); return 0 }}
	live := Stats{Live: 6 * mib, Roots: 1 * mib}
	at := func(allocs uint64) Stats { s := live; s.Allocs = allocs; return s }
	// 7 MiB in 250 ms: 28 MiB/s, 400%.
	p.step(at(7*mib), at(0), 250*time.Millisecond)
	// The same rate again changes nothing.
	p.step(at(14*mib), at(7*mib), 250*time.Millisecond)
	// A tick without allocations halves the rate: 200%.
	p.step(at(14*mib), at(14*mib), 250*time.Millisecond)
	// Then 100%, Go's default, applied even though it is close.
	p.step(at(14*mib), at(14*mib), 250*time.Millisecond)
	p.step(at(14*mib), at(14*mib), 250*time.Millisecond)
	// A clock that did not move, or counters that went back, are ignored.
	p.step(at(20*mib), at(14*mib), 0)
	p.step(at(1*mib), at(14*mib), time.Second)
	want := []int{400, 200, 100}
	if len(applied) != len(want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	for i := range want {
		if applied[i] != want[i] {
			t.Fatalf("applied %v, want %v", applied, want)
		}
	}
	// A change of less than a tenth is not applied.
	applied = nil
	p.current = 400
	p.rate = 0
	p.step(at(7*mib+mib/4), at(0), 250*time.Millisecond) // 29 MiB/s: 414%
	if len(applied) != 0 {
		t.Fatalf("a 3.5%% change was applied: %v", applied)
	}
}

func TestReadMeasures(t *testing.T) {
	before := Read()
	sink = make([]byte, 4*mib)
	after := Read()
	if after.Allocs < before.Allocs+4*mib {
		t.Fatalf("allocations not counted: %d then %d", before.Allocs, after.Allocs)
	}
	if after.Roots == 0 {
		t.Fatalf("no stacks or globals measured: %+v", after)
	}
}

var sink []byte

func TestRunLeavesGOGCAlone(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := debug.SetGCPercent(123)
	defer debug.SetGCPercent(old)
	// Off, or GOGC set: Run returns at once and changes nothing.
	Run(context.Background(), Settings{Interval: 0, MaxHeap: 64 * mib}, false, log)
	Run(context.Background(), Settings{Interval: time.Second, MaxHeap: 64 * mib}, true, log)
	if got := debug.SetGCPercent(123); got != 123 {
		t.Fatalf("GC percent changed to %d", got)
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestRunPacesAndRestores(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := debug.SetGCPercent(DefaultPercent)
	defer debug.SetGCPercent(old)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Settings{Interval: 10 * time.Second, MaxHeap: 256 * mib}, false, log)
	}()
	// Allocate fast until the pacer raises the percent.
	for deadline := time.Now().Add(20 * time.Second); gogc() == DefaultPercent; {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("the pacer never raised the GC percent while the test allocated")
		}
		for range 64 {
			sink = make([]byte, 64<<10)
		}
		time.Sleep(time.Millisecond)
	}
	if got := gogc(); got <= DefaultPercent {
		t.Fatalf("GC percent %d", got)
	}
	cancel()
	<-done
	if got := gogc(); got != DefaultPercent {
		t.Fatalf("after Run the percent is %d, want Go's default back", got)
	}
}
