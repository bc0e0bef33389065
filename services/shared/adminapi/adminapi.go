// Package adminapi serves the operators' API o365.admin.v1 on a service's
// gRPC server: queries and exports of the service's audit log, its head,
// and a key rotation pass. Who may call it is the authorization policy's
// business: only tool identities that the operators' policy file names; no
// built-in rule grants it. A tool limited to some instances must name one
// of them in every audit query (instance_id), and may neither read the
// chain's head nor rotate keys, which span every instance.
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/secret"
)

// Server implements adminv1.AdminServiceServer for one service.
type Server struct {
	adminv1.UnimplementedAdminServiceServer
	// Audit is the service's audit log.
	Audit audit.Store
	// Rekey is the service's re-sealing pass and Sealer its keys; both nil
	// for a service that stores no secret.
	Rekey  secret.Rekeyer
	Sealer *secret.Sealer
	// Jobs is the service's queue; nil for none.
	Jobs jobs.Inspector
	// Resources are the resources the service owns; nil for none.
	Resources Resources
	// Log records the operators' actions on jobs (the audit log records
	// every admin call already).
	Log *slog.Logger
}

// Page sizes of the audit queries.
const (
	defaultListPage   = 100
	maxListPage       = 1000
	defaultExportPage = 1000
	maxExportPage     = 5000
)

// query is what both audit queries take.
type query interface {
	GetInstanceId() string
	GetStartTime() *timestamppb.Timestamp
	GetEndTime() *timestamppb.Timestamp
	GetMethod() string
	GetCaller() string
	GetCode() string
	GetPageSize() int32
	GetPageToken() string
}

// page reads the matching entries of one page and the next page's token.
func (s *Server) page(ctx context.Context, q query, def, max int) ([]audit.Entry, string, error) {
	if err := authz.RequireInstance(ctx, q.GetInstanceId()); err != nil {
		return nil, "", err
	}
	f := audit.Filter{InstanceID: q.GetInstanceId(), Method: q.GetMethod(), Caller: q.GetCaller(), Code: q.GetCode()}
	for _, t := range []struct {
		ts  *timestamppb.Timestamp
		dst *time.Time
		// name of the field, for the error
		name string
	}{{q.GetStartTime(), &f.Since, "start_time"}, {q.GetEndTime(), &f.Until, "end_time"}} {
		if t.ts == nil {
			continue
		}
		if err := t.ts.CheckValid(); err != nil {
			return nil, "", apierr.Invalid("%s is not a valid time.", t.name)
		}
		*t.dst = t.ts.AsTime()
	}
	size := int(q.GetPageSize())
	switch {
	case size < 0:
		return nil, "", apierr.Invalid("page_size must not be negative.")
	case size == 0:
		size = def
	case size > max:
		size = max
	}
	var after int64
	if tok := q.GetPageToken(); tok != "" {
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || n < 0 {
			return nil, "", apierr.Invalid("page_token is not one this service gave.")
		}
		after = n
	}
	entries, err := s.Audit.List(ctx, f, after, size+1)
	if err != nil {
		return nil, "", apierr.Wrap(err, codes.Unavailable, apierr.Internal, "The audit log cannot be read right now.")
	}
	next := ""
	if len(entries) > size {
		entries = entries[:size]
		next = strconv.FormatInt(entries[size-1].Seq, 10)
	}
	return entries, next, nil
}

// ListAuditEntries implements adminv1.AdminServiceServer.
func (s *Server) ListAuditEntries(ctx context.Context, req *adminv1.ListAuditEntriesRequest) (*adminv1.ListAuditEntriesResponse, error) {
	entries, next, err := s.page(ctx, req, defaultListPage, maxListPage)
	if err != nil {
		return nil, err
	}
	resp := &adminv1.ListAuditEntriesResponse{NextPageToken: next}
	for i := range entries {
		resp.Entries = append(resp.Entries, toProto(&entries[i]))
	}
	return resp, nil
}

// ExportAuditEntries implements adminv1.AdminServiceServer: the entries as
// JSON lines, in audit.Entry's JSON form (what the verify command reads
// back from the database is the same).
func (s *Server) ExportAuditEntries(ctx context.Context, req *adminv1.ExportAuditEntriesRequest) (*adminv1.ExportAuditEntriesResponse, error) {
	entries, next, err := s.page(ctx, req, defaultExportPage, maxExportPage)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range entries {
		if err := enc.Encode(&entries[i]); err != nil {
			return nil, apierr.Wrap(err, codes.Internal, apierr.Internal, "An audit entry could not be encoded.")
		}
	}
	return &adminv1.ExportAuditEntriesResponse{Jsonl: b.Bytes(), Count: int32(len(entries)), NextPageToken: next}, nil
}

// GetAuditHead implements adminv1.AdminServiceServer.
func (s *Server) GetAuditHead(ctx context.Context, _ *adminv1.GetAuditHeadRequest) (*adminv1.GetAuditHeadResponse, error) {
	if err := authz.RequireAll(ctx, "The audit chain's head"); err != nil {
		return nil, err
	}
	h, err := s.Audit.Head(ctx)
	if err != nil {
		return nil, apierr.Wrap(err, codes.Unavailable, apierr.Internal, "The audit log cannot be read right now.")
	}
	return &adminv1.GetAuditHeadResponse{Seq: h.Seq, Mac: h.MAC}, nil
}

// RotateKeys implements adminv1.AdminServiceServer: one re-sealing pass
// (the one each replica runs every *_ENCRYPTION_REKEY_INTERVAL). A service
// that stores no secret answers 0.
func (s *Server) RotateKeys(ctx context.Context, _ *adminv1.RotateKeysRequest) (*adminv1.RotateKeysResponse, error) {
	if err := authz.RequireAll(ctx, "A key rotation"); err != nil {
		return nil, err
	}
	resp := &adminv1.RotateKeysResponse{}
	if s.Sealer != nil {
		resp.ActiveKey, resp.KeyIds = s.Sealer.ActiveKey(), s.Sealer.KeyIDs()
	}
	if s.Rekey == nil {
		return resp, nil
	}
	n, err := s.Rekey.Rekey(ctx)
	resp.Resealed = int32(n)
	if err != nil {
		// The cause names rows, never values; it goes to the service's log.
		return nil, apierr.Wrap(err, codes.Aborted, apierr.Conflict,
			"The pass re-sealed %d values but left some under another key; the service's log names them. Run it again.", n)
	}
	return resp, nil
}

func toProto(e *audit.Entry) *adminv1.AuditEntry {
	return &adminv1.AuditEntry{Seq: e.Seq, Time: timestamppb.New(e.Time), Service: e.Service, Kind: e.Kind, InstanceId: e.InstanceID,
		Caller: &adminv1.AuditCaller{Identity: e.Caller.Identity, ApsIdentityId: e.Caller.APSIdentityID, ApsActorId: e.Caller.APSActorID,
			ApsAccountHierarchy: e.Caller.APSAccountHierarchy, ApsTransactionId: e.Caller.APSTransactionID},
		Resource:     &adminv1.AuditResource{Type: e.Resource.Type, Id: e.Resource.ID},
		Operation:    &adminv1.AuditOperation{Method: e.Operation.Method, Phase: e.Operation.Phase, Attempt: int32(e.Operation.Attempt)},
		Outcome:      &adminv1.AuditOutcome{Code: e.Outcome.Code, Reason: e.Outcome.Reason},
		MsRequestIds: e.MSRequestIDs, KeyId: e.KeyID, PrevMac: e.PrevMAC, Mac: e.MAC}
}
