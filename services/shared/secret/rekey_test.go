package secret

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type countingRekeyer struct {
	n    int
	err  error
	runs int
}

func (c *countingRekeyer) Rekey(context.Context) (int, error) { c.runs++; return c.n, c.err }

func TestRunRekeyLogsCounts(t *testing.T) {
	s := ring(t, "new", map[string][]byte{"new": key(2), "old": key(1)})
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	a, b := &countingRekeyer{n: 2}, &countingRekeyer{n: 1}
	RunRekey(context.Background(), Rekeyers{a, b}, s, 0, log)
	if out := buf.String(); a.runs != 1 || b.runs != 1 || !strings.Contains(out, "resealed=3") || !strings.Contains(out, "active_key=new") ||
		!strings.Contains(out, "keys=new,old") || !strings.Contains(out, "level=INFO") {
		t.Fatalf("runs %d %d, logged %s", a.runs, b.runs, out)
	}

	buf.Reset()
	var p Pass
	p.Add(1, nil)
	p.Add(0, errors.New("sealed value at x/y is under key \"gone\""))
	if p.Resealed != 1 || p.Left != 1 || p.Err() == nil {
		t.Fatalf("%+v", p)
	}
	RunRekey(context.Background(), &countingRekeyer{n: 1, err: p.Err()}, s, 0, log)
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "1 rows still hold") {
		t.Fatalf("logged %s", out)
	}

	// Periodic passes end with the context.
	ctx, cancel := context.WithCancel(context.Background())
	c := &countingRekeyer{}
	done := make(chan struct{})
	go func() { RunRekey(ctx, c, s, time.Hour, log); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunRekey did not end with its context")
	}
}
