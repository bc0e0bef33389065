// Package report is what every benchmark section of `make bench` produces:
// tables of figures (each the median of several runs) that the runner
// (cmd/benchreport) writes into bench/RESULTS.md.
package report

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Env is what a section gets from the runner.
type Env struct {
	// BinDir holds the built binaries (make build).
	BinDir string
	// WorkDir is a scratch directory of the section's own.
	WorkDir string
	// Runs is how many times each figure is measured (its median is
	// reported); at least 3 unless Quick.
	Runs int
	// Quick shortens every measurement (a smoke run of the harness, not
	// figures to report).
	Quick bool
	// PostgresURL, when set, is a server the section may create databases
	// on (postgres://…/postgres); empty skips the PostgreSQL cases.
	PostgresURL string
	Log         *slog.Logger
	// BeforeBin, when set, holds the binaries of an earlier commit
	// (BeforeLabel names it), measured beside the current ones where a
	// section compares before and after.
	BeforeBin, BeforeLabel string
	// ProfileDir, when set, receives CPU profiles of the processes under
	// load (the sections that take them say which).
	ProfileDir string
}

// Duration scales a measurement's length down in Quick runs.
func (e *Env) Duration(d time.Duration) time.Duration {
	if e.Quick {
		return max(d/10, 500*time.Millisecond)
	}
	return d
}

// Table is one table of RESULTS.md.
type Table struct {
	Title string
	// Note is printed under the title: what was measured and how.
	Note   string
	Header []string
	Rows   [][]string
	// Footer lines are printed under the table (targets met or missed, why).
	Footer []string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// Markdown writes the table.
func (t *Table) Markdown(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n", t.Title)
	if t.Note != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(t.Note))
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.Header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.Header)))
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
	for _, f := range t.Footer {
		fmt.Fprintf(w, "%s\n", f)
	}
	if len(t.Footer) > 0 {
		fmt.Fprintln(w)
	}
}

// Section is one part of the benchmark run.
type Section struct {
	// Name selects the section (benchreport -only).
	Name string
	// Title heads the section in RESULTS.md.
	Title string
	Run   func(ctx context.Context, env *Env) ([]Table, error)
}

// Median is the median of xs (0 when empty).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// Runs measures f env.Runs times and returns the medians of each of the
// figures it returns (by position).
func Runs(ctx context.Context, env *Env, f func(ctx context.Context, run int) ([]float64, error)) ([]float64, error) {
	var all [][]float64
	for i := range max(env.Runs, 1) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		xs, err := f(ctx, i)
		if err != nil {
			return nil, err
		}
		all = append(all, xs)
	}
	out := make([]float64, len(all[0]))
	for j := range out {
		col := make([]float64, 0, len(all))
		for _, xs := range all {
			col = append(col, xs[j])
		}
		out[j] = Median(col)
	}
	return out, nil
}

// Number formats a figure with a sensible precision.
func Number(x float64) string {
	switch a := max(x, -x); {
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// Millis formats a duration in milliseconds.
func Millis(d time.Duration) string { return Number(float64(d) / float64(time.Millisecond)) }

// MiB formats bytes in MiB.
func MiB(bytes float64) string { return Number(bytes / (1 << 20)) }

// Verdict is "met" or "missed" for a target.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// SelfEnv is the environment variable that holds the command (words
// separated by spaces) that runs the benchmark runner's helper processes:
// "<runner> serve <kind> [flags]" (see package servers). The runner sets it
// to itself.
const SelfEnv = "O365GW_BENCH_SELF"
