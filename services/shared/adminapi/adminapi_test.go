package adminapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/adminapi"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit"
)

// store is an audit.Store of entries 1..n that records the last query.
type store struct {
	n      int64
	filter audit.Filter
	after  int64
	limit  int
}

func (s *store) Append(context.Context, func(audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	return audit.Entry{}, errors.New("read only")
}

func (s *store) Head(context.Context) (audit.Head, error) {
	return audit.Head{Seq: s.n, MAC: "ab"}, nil
}

func (s *store) List(_ context.Context, f audit.Filter, after int64, limit int) ([]audit.Entry, error) {
	s.filter, s.after, s.limit = f, after, limit
	var out []audit.Entry
	for seq := after + 1; seq <= s.n && len(out) < limit; seq++ {
		out = append(out, audit.Entry{Seq: seq, Kind: audit.KindCall, Time: time.Unix(seq, 0)})
	}
	return out, nil
}

type rekeyer struct{ err error }

func (r rekeyer) Rekey(context.Context) (int, error) { return 3, r.err }

func TestQueriesPageAndFilter(t *testing.T) {
	ctx := context.Background()
	st := &store{n: 5}
	s := &adminapi.Server{Audit: st}
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	resp, err := s.ListAuditEntries(ctx, &adminv1.ListAuditEntriesRequest{InstanceId: "i", Caller: "c", Code: "OK", Method: "m",
		StartTime: timestamppb.New(since), PageSize: 2})
	if err != nil || len(resp.GetEntries()) != 2 || resp.GetNextPageToken() != "2" {
		t.Fatalf("first page %v, %v", resp, err)
	}
	if st.filter != (audit.Filter{InstanceID: "i", Caller: "c", Code: "OK", Method: "m", Since: since}) || st.limit != 3 {
		t.Fatalf("query %+v limit %d", st.filter, st.limit)
	}
	resp, err = s.ListAuditEntries(ctx, &adminv1.ListAuditEntriesRequest{PageSize: 2, PageToken: "4"})
	if err != nil || len(resp.GetEntries()) != 1 || resp.GetEntries()[0].GetSeq() != 5 || resp.GetNextPageToken() != "" {
		t.Fatalf("last page %v, %v", resp, err)
	}
	exp, err := s.ExportAuditEntries(ctx, &adminv1.ExportAuditEntriesRequest{PageSize: 99999})
	if err != nil || exp.GetCount() != 5 || st.limit != 5001 {
		t.Fatalf("export %v (limit %d), %v", exp, st.limit, err)
	}
	for _, bad := range []*adminv1.ListAuditEntriesRequest{{PageToken: "x"}, {PageSize: -1},
		{EndTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}} {
		if _, err := s.ListAuditEntries(ctx, bad); apierr.From(err).Code != codes.InvalidArgument {
			t.Errorf("%v: %v", bad, err)
		}
	}
	head, err := s.GetAuditHead(ctx, &adminv1.GetAuditHeadRequest{})
	if err != nil || head.GetSeq() != 5 {
		t.Fatalf("head %v, %v", head, err)
	}
}

func TestRotateKeys(t *testing.T) {
	ctx := context.Background()
	if r, err := (&adminapi.Server{}).RotateKeys(ctx, &adminv1.RotateKeysRequest{}); err != nil || r.GetResealed() != 0 {
		t.Fatalf("a service without secrets: %v %v", r, err)
	}
	if r, err := (&adminapi.Server{Rekey: rekeyer{}}).RotateKeys(ctx, &adminv1.RotateKeysRequest{}); err != nil || r.GetResealed() != 3 {
		t.Fatalf("a pass: %v %v", r, err)
	}
	_, err := (&adminapi.Server{Rekey: rekeyer{err: errors.New("row x under key old")}}).RotateKeys(ctx, &adminv1.RotateKeysRequest{})
	if e := apierr.From(err); e.Code != codes.Aborted || e.Message == "" {
		t.Fatalf("a pass that left rows: %v", err)
	}
}
