package gcpace

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"slices"
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
	var allocs uint64
	// tick allocates n bytes over 250 ms.
	tick := func(n uint64) {
		prev := live
		prev.Allocs = allocs
		allocs += n
		s := live
		s.Allocs = allocs
		p.step(s, prev, 250*time.Millisecond)
	}
	// One busy tick alone changes nothing: 28 MiB/s once.
	tick(7 * mib)
	if len(applied) != 0 {
		t.Fatalf("one busy tick applied %v", applied)
	}
	// 28 MiB/s twice: 400%.
	tick(7 * mib)
	// The same rate again changes nothing.
	tick(7 * mib)
	// A tick without allocations halves the rate: 200%.
	tick(0)
	// Then 100%, Go's default, applied even though it is close.
	tick(0)
	tick(0)
	want := []int{400, 200, 100}
	if !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	// A clock that did not move, or counters that went back, are ignored.
	applied = nil
	p.step(Stats{Allocs: 20 * mib}, Stats{Allocs: 14 * mib}, 0)
	p.step(Stats{Allocs: 1 * mib}, Stats{Allocs: 14 * mib}, time.Second)
	// A change of less than a tenth is not applied: 29 MiB/s twice is 414%.
	p.current, p.rate, p.last = 400, 0, 30*mib
	tick(7*mib + mib/4)
	if len(applied) != 0 {
		t.Fatalf("applied %v, want nothing", applied)
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
