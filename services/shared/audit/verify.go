package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one finding of Verify.
type Problem struct {
	// Seq is the entry the finding is about (the first one missing for a
	// gap or a truncation).
	Seq  int64  `json:"seq"`
	What string `json:"what"`
}

// Report is what Verify found.
type Report struct {
	// Entries is how many entries the chain holds.
	Entries int64 `json:"entries"`
	// Head is the last entry.
	Head Head `json:"head"`
	// Keys counts the entries sealed under each key id.
	Keys map[string]int64 `json:"keys"`
	// Problems are the entries that were edited, missing, out of chain or
	// sealed under a key not given, and a truncation against a known head;
	// at most MaxProblems.
	Problems []Problem `json:"problems,omitempty"`
	// More is how many problems were found beyond MaxProblems.
	More int `json:"more,omitempty"`
}

// OK tells whether the chain is intact.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// MaxProblems bounds a report's list.
const MaxProblems = 100

func (r *Report) add(seq int64, format string, args ...any) {
	if len(r.Problems) >= MaxProblems {
		r.More++
		return
	}
	r.Problems = append(r.Problems, Problem{Seq: seq, What: fmt.Sprintf(format, args...)})
}

// verifyPage is how many entries Verify reads at a time.
const verifyPage = 1000

// Verify reads a whole chain and checks, for every entry, that its MAC is
// the one its key gives it (an edited entry fails), that its sequence
// number follows the previous one (a deleted entry leaves a gap) and that
// it names the previous entry's MAC (an entry removed or replaced before
// it). With known, a head exported earlier, it also checks that the chain
// still reaches it with the same MAC (a truncated chain fails). The error
// is for a chain that could not be read; findings are in the report.
func Verify(ctx context.Context, s Store, keys Keyring, known *Head) (*Report, error) {
	r := &Report{Keys: map[string]int64{}}
	var prev Head
	var knownMAC string
	for {
		page, err := s.List(ctx, Filter{}, prev.Seq, verifyPage)
		if err != nil {
			return nil, fmt.Errorf("read the audit log: %w", err)
		}
		for i := range page {
			e := &page[i]
			r.Entries++
			r.Keys[e.KeyID]++
			switch {
			case e.Seq > prev.Seq+1 && e.Seq == prev.Seq+2:
				r.add(prev.Seq+1, "entry %d is missing (deleted)", prev.Seq+1)
			case e.Seq > prev.Seq+1:
				r.add(prev.Seq+1, "entries %d to %d are missing (deleted)", prev.Seq+1, e.Seq-1)
			}
			if e.PrevMAC != prev.MAC && e.Seq == prev.Seq+1 {
				r.add(e.Seq, "entry %d does not chain to entry %d (its prev_mac differs from that entry's MAC): an entry was replaced", e.Seq, prev.Seq)
			}
			k := keys[e.KeyID]
			switch {
			case k == nil:
				r.add(e.Seq, "entry %d is sealed under key %s, which was not given", e.Seq, e.KeyID)
			case !k.Check(e):
				r.add(e.Seq, "entry %d was altered: its MAC does not match its content", e.Seq)
			}
			if known != nil && e.Seq == known.Seq {
				knownMAC = e.MAC
			}
			prev = Head{Seq: e.Seq, MAC: e.MAC}
		}
		if len(page) < verifyPage {
			break
		}
	}
	r.Head = prev
	if known != nil && known.Seq > 0 {
		switch {
		case prev.Seq < known.Seq:
			r.add(prev.Seq+1, "the chain ends at entry %d, but entry %d was exported as its head: it was truncated", prev.Seq, known.Seq)
		case knownMAC != known.MAC:
			r.add(known.Seq, "entry %d differs from the head exported earlier (MAC %s)", known.Seq, known.MAC)
		}
	}
	sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Seq < r.Problems[j].Seq })
	return r, nil
}

// ParseHead reads a head written as "seq:mac" (Head.String).
func ParseHead(s string) (Head, error) {
	seq, mac, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 0 || len(mac) != 64 || strings.Trim(strings.ToLower(mac), "0123456789abcdef") != "" {
		return Head{}, errors.New("a head is SEQ:MAC, the sequence number and the 64 hex digits of the entry's MAC")
	}
	return Head{Seq: n, MAC: strings.ToLower(mac)}, nil
}
