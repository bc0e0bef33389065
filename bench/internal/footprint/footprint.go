// Package footprint measures each binary's time from start to ready and
// its resident memory once idle, in the production configuration (traces
// over OTLP to the benchmark's receiver).
package footprint

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/o365gateway/gateway/bench/internal/otlprecv"
	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/bench/internal/serving"
	"github.com/o365gateway/gateway/sim/devstack"
)

// MaxIdleRSS is the target of issue 12: every binary idles under it.
const MaxIdleRSS = 40 << 20

// Idle is how long the stack idles before its memory is read.
const Idle = 10 * time.Second

// Section measures the footprint.
func Section() report.Section {
	return report.Section{Name: "footprint", Title: "Footprint: start to ready, idle memory", Run: run}
}

func run(ctx context.Context, env *report.Env) ([]report.Table, error) {
	recv, err := otlprecv.Start()
	if err != nil {
		return nil, err
	}
	defer recv.Stop()
	names := append(slices.Clone(devstack.Processes), devstack.AllInOne)
	ready := make([][]float64, len(names))
	rss := make([][]float64, len(names))
	for run := range max(env.Runs, 1) {
		// The separate processes, then the single-process mode.
		for _, one := range []bool{false, true} {
			stack, err := devstack.Start(ctx, devstack.Options{BinDir: env.BinDir, WorkDir: filepath.Join(env.WorkDir, fmt.Sprint("run", run, one)),
				ReadyPoll: 5 * time.Millisecond, ExtraEnv: serving.Production.Env(recv), AllInOne: one})
			if err != nil {
				return nil, err
			}
			select {
			case <-time.After(env.Duration(Idle)):
			case <-ctx.Done():
			}
			for i, n := range names {
				if one != (n == devstack.AllInOne) || (one && n == devstack.MSCloud) {
					continue
				}
				ready[i] = append(ready[i], float64(stack.ReadyAfter(n)))
				m, err := report.RSS(stack.Pid(n))
				if err != nil {
					_ = stack.Stop()
					return nil, fmt.Errorf("%s: %w", n, err)
				}
				rss[i] = append(rss[i], m)
			}
			if err := stack.Stop(); err != nil {
				return nil, err
			}
		}
	}
	t := report.Table{
		Title: "Footprint",
		Note: fmt.Sprintf("Each process started by the dev stack in the production configuration (SQLite, a fresh work directory), "+
			"its readiness probed every 5 ms; the resident set (VmRSS) read after %s idle with no instance. The simulator (mscloud) is listed for reference; allinone is the single-process mode, started on its own. "+
			"Medians of %d starts.", env.Duration(Idle), max(env.Runs, 1)),
		Header: []string{"binary", "start to ready (ms)", "idle RSS (MiB)", "under 40 MiB"},
	}
	all := true
	separate := 0.0 // the gateway's separate processes together
	for i, n := range names {
		m := report.Median(rss[i])
		ok := m < MaxIdleRSS
		switch n {
		case devstack.MSCloud:
		case devstack.AllInOne:
			all = all && ok
		default:
			all = all && ok
			separate += m
		}
		t.Add(n, report.Millis(time.Duration(report.Median(ready[i]))), report.MiB(m), report.Verdict(ok))
	}
	t.Footer = []string{fmt.Sprintf("- Every gateway binary idles under 40 MiB: %s.", report.Verdict(all)),
		fmt.Sprintf("- The single-process mode (allinone) runs what the four separate processes run, which idle at %s MiB together; it idles at %s MiB.",
			report.MiB(separate), report.MiB(report.Median(rss[len(names)-1])))}
	return []report.Table{t}, nil
}
