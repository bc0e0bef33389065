// Package gcpace spaces a process's garbage collections out while it is
// busy. Go's default pacing (GOGC=100) starts a collection each time the
// heap has grown by as much as was live after the last one. The gateway's
// processes keep a few MiB live and allocate tens of KiB per request, so
// under load they collected 10 to 20 times a second, and each collection's
// mark phase and assists fell on requests in flight: most of the
// single-process mode's latency tail at half its maximum load, in runtime
// traces taken under make bench's paced load.
//
// The pacer measures the allocation rate and raises the GC percent so that
// the heap may grow by about Interval's worth of allocations between two
// collections, aiming the heap goal at no more than MaxHeap and never going
// under Go's default. MaxHeap is a soft bound: a live heap past half of it
// gets Go's default pacing, whose goal is twice the live heap, and a live
// heap that jumps between two measurements meets the percent set before
// the jump; GOMEMLIMIT is the hard bound. Idle, the rate is near zero and the pacing is Go's
// own, so an idle process keeps its small footprint; a GOMEMLIMIT set by
// the operator still caps the heap, since the runtime obeys the lower of
// the two goals. An operator who sets GOGC keeps it: the pacer then stays
// off.
package gcpace

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults of the settings.
const (
	DefaultPercent = 100
	// tick is how often the rate is measured.
	tick = 250 * time.Millisecond
	// minBase is the runtime's own minimum heap goal at GOGC=100 (4 MiB,
	// scaled by the percent like the rest of the goal): below it the
	// runtime's goal is minBase × percent / 100, so the percent is
	// computed over at least that base to keep the goal within MaxHeap.
	minBase = 4 << 20
	// MaxPercent bounds the percent set (the runtime takes an int32).
	MaxPercent = 100_000
)

// Settings of the pacer.
type Settings struct {
	// Interval is the time between collections the pacer aims for under
	// load; 0 turns the pacer off.
	Interval time.Duration
	// MaxHeap bounds the heap goal the pacer sets (bytes).
	MaxHeap uint64
}

// Stats is what one measurement reads from the runtime.
type Stats struct {
	// Allocs counts the bytes allocated since the process started.
	Allocs uint64
	// Live is the heap marked live by the last collection; Roots the
	// stacks and globals it scanned (Go's goal counts both).
	Live, Roots uint64
}

// Percent is the GC percent that lets the heap grow by rate × interval
// (bytes per second × seconds) over what was live, within maxHeap, and
// never less than Go's default.
func Percent(s Stats, rate float64, set Settings) int {
	base := float64(max(s.Live+s.Roots, minBase))
	want := rate * set.Interval.Seconds() / base * 100
	if set.MaxHeap > s.Live {
		// goal = live + base × percent / 100 ≤ MaxHeap
		want = math.Min(want, float64(set.MaxHeap-s.Live)/base*100)
	} else {
		want = 0
	}
	return max(DefaultPercent, int(math.Min(want, MaxPercent)))
}

// Read takes a measurement from the runtime.
func Read() Stats {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return Stats{Allocs: v(0), Live: v(1), Roots: v(2) + v(3)}
}

// Run paces the collections until ctx ends, then gives the runtime back
// Go's default pacing. It returns at once when set.Interval is 0 or when
// GOGC is set (gogcSet): the operator's choice wins.
func Run(ctx context.Context, set Settings, gogcSet bool, log *slog.Logger) {
	if set.Interval <= 0 || gogcSet {
		if gogcSet && set.Interval > 0 {
			log.Info("GOGC is set: the garbage collector keeps it (GC_INTERVAL not applied)")
		}
		return
	}
	p := pacer{set: set, apply: debug.SetGCPercent, read: Read, current: DefaultPercent}
	defer debug.SetGCPercent(DefaultPercent)
	t := time.NewTicker(tick)
	defer t.Stop()
	last, at := p.read(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := p.read()
			p.step(s, last, now.Sub(at))
			last, at = s, now
		}
	}
}

// pacer keeps the state of Run between ticks.
type pacer struct {
	set     Settings
	apply   func(int) int
	read    func() Stats
	current int
	// rate is the allocation rate used (bytes per second). It rises to
	// the lower of the last two measurements, so that one busy tick alone
	// (a process starting, one large listing) does not grow the heap, and
	// falls by halves, so that a short lull inside a busy period does not
	// bring many collections back.
	rate float64
	// last is the previous tick's measured rate.
	last float64
}

// step takes one measurement s, elapsed after prev, and applies the
// percent it calls for when it differs from the current one by more than
// a tenth (each change costs the runtime a little).
func (p *pacer) step(s, prev Stats, elapsed time.Duration) {
	if elapsed <= 0 || s.Allocs < prev.Allocs {
		return
	}
	r := float64(s.Allocs-prev.Allocs) / elapsed.Seconds()
	p.rate = math.Max(math.Min(r, p.last), p.rate/2)
	p.last = r
	want := Percent(s, p.rate, p.set)
	if want == p.current {
		return
	}
	if want != DefaultPercent && math.Abs(float64(want-p.current)) < float64(p.current)/10 {
		return
	}
	p.apply(want)
	p.current = want
}
