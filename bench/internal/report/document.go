package report

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Document is RESULTS.md: how and where the figures were measured, then
// each section's tables.
type Document struct {
	Started time.Time
	Elapsed time.Duration
	Args    []string
	Runs    int
	Quick   bool
	Machine string
	Commit  string
	parts   []part
}

type part struct {
	section Section
	tables  []Table
	err     error
	took    time.Duration
}

// Add records a section's outcome.
func (d *Document) Add(s Section, tables []Table, err error, took time.Duration) {
	d.parts = append(d.parts, part{s, tables, err, took})
}

// Failed tells whether a section failed.
func (d *Document) Failed() bool {
	for _, p := range d.parts {
		if p.err != nil {
			return true
		}
	}
	return false
}

// Write writes the document to path.
func (d *Document) Write(path string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Benchmark results\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (bench/cmd/benchreport); do not edit by hand. Figures are medians of %d runs", d.Runs)
	if d.Quick {
		fmt.Fprintf(&b, " of **quick** (shortened) measurements: a smoke test of the harness, not figures to keep")
	}
	fmt.Fprintf(&b, ".\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| date | %s |\n", d.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| commit | %s |\n", d.Commit)
	fmt.Fprintf(&b, "| machine | %s |\n", d.Machine)
	fmt.Fprintf(&b, "| command | `make bench` → `benchreport %s` |\n", strings.Join(d.Args, " "))
	fmt.Fprintf(&b, "| took | %s |\n\n", d.Elapsed.Round(time.Second))
	for _, p := range d.parts {
		fmt.Fprintf(&b, "## %s\n\n", p.section.Title)
		if p.err != nil {
			fmt.Fprintf(&b, "**The section failed:** %s\n\n", p.err)
			continue
		}
		for _, t := range p.tables {
			t.Markdown(&b)
		}
		fmt.Fprintf(&b, "_Section measured in %s._\n\n", p.took.Round(time.Second))
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// DescribeMachine names the CPU, its cores, the memory, the OS and Go.
func DescribeMachine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb float64
				fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
				mem = fmt.Sprintf(", %.0f GiB memory", kb/(1<<20))
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores%s%s, %s %s/%s", cpu, runtime.NumCPU(), mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Commit is the checked-out commit, marked when the tree has changes.
func Commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}
