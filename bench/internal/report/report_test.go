package report

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRunsTakesTheMedianOfEachFigure(t *testing.T) {
	env := &Env{Runs: 3}
	i := 0
	got, err := Runs(context.Background(), env, func(context.Context, int) ([]float64, error) {
		i++
		return []float64{float64(i), float64(10 - i)}, nil
	})
	if err != nil || i != 3 || got[0] != 2 || got[1] != 8 {
		t.Fatalf("%v %v after %d runs", got, err, i)
	}
}

func TestTableMarkdown(t *testing.T) {
	tb := Table{Title: "T", Note: "n", Header: []string{"a", "b"}, Footer: []string{"- f"}}
	tb.Add("1", "2")
	var b bytes.Buffer
	tb.Markdown(&b)
	want := "### T\n\nn\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- f\n\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestProcessFigures(t *testing.T) {
	rss, err := RSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS %v %v", rss, err)
	}
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
	}
	after, _ := CPUTime(os.Getpid())
	if after <= before {
		t.Fatalf("CPU time did not grow: %s then %s", before, after)
	}
}

func TestDocumentNamesMachineAndCommit(t *testing.T) {
	d := Document{Started: time.Now(), Runs: 3, Machine: DescribeMachine(), Commit: "abc"}
	d.Add(Section{Name: "s", Title: "S"}, []Table{{Title: "T", Header: []string{"a"}}}, nil, time.Second)
	path := t.TempDir() + "/R.md"
	if err := d.Write(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"| commit | abc |", "cores", "## S", "### T", "medians of 3 runs"} {
		if !strings.Contains(strings.ToLower(string(b)), strings.ToLower(want)) {
			t.Errorf("RESULTS lacks %q:\n%s", want, b)
		}
	}
}

func TestSchedulingFigures(t *testing.T) {
	busy0, total0, err := MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	wait0, err := RunQueueWait(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// More busy threads than CPUs for a while: some of them wait.
	n := 2 * runtime.NumCPU()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			}
		}()
	}
	wg.Wait()
	busy1, total1, _ := MachineCPU()
	wait1, _ := RunQueueWait(os.Getpid())
	if busy1 <= busy0 || total1-total0 < busy1-busy0 {
		t.Fatalf("machine CPU: busy %s→%s, total %s→%s", busy0, busy1, total0, total1)
	}
	if wait1 <= wait0 {
		t.Fatalf("run-queue wait did not grow with %d spinning threads on %d CPUs: %s then %s", n, runtime.NumCPU(), wait0, wait1)
	}
}
