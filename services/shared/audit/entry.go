// Package audit keeps a service's audit log: one entry for every change
// made to the service, whoever asked for it (the APS controller through the
// facade, another service, an operator's tool), and one for the outcome of
// every asynchronous operation. Entries carry ids, never personal data or
// request bodies.
//
// The entries of a service form one chain in its database: each entry's
// MAC (HMAC-SHA256 under a key kept outside the database) covers the
// entry's canonical encoding, which includes the previous entry's MAC.
// Whoever can write the database but lacks the key can therefore not edit,
// delete or insert an entry without Verify noticing; cutting entries off
// the end is noticed against a head (sequence number and MAC) exported
// earlier, which Log.RunHeads logs and publishes as metrics.
//
// The pieces: Log appends (Record, Add) and exports the head (RunHeads),
// Store is the table behind it (sqldb.AuditLog), IsChange decides which gRPC
// calls are changes, Verify checks a chain, Key is the MAC key of a key
// file. The entries of calls are made by the gRPC server's interceptor
// (grpcserver.Options.Audit), those of jobs' outcomes by lifecycle.AuditTo;
// this package itself depends on neither, so that the stores that hold a
// chain stay free of gRPC.
package audit

import (
	"encoding/binary"
	"strconv"
	"time"
)

// Kinds of entries.
const (
	// KindCall is a state-changing gRPC call, whatever its outcome.
	KindCall = "call"
	// KindJob is the outcome of an asynchronous operation (a lifecycle job
	// that completed or failed for good).
	KindJob = "job"
)

// Entry is one audit log entry. Its JSON form is the export format.
type Entry struct {
	// Seq is the entry's position in the service's chain: 1, 2, 3, … with
	// no gaps.
	Seq int64 `json:"seq"`
	// Time is when the entry was written (UTC, microseconds).
	Time time.Time `json:"time"`
	// Service whose chain this is (tenant, subscription, user).
	Service string `json:"service"`
	// Kind is KindCall or KindJob.
	Kind       string `json:"kind"`
	InstanceID string `json:"instance_id,omitempty"`
	Caller     Caller `json:"caller"`
	// Resource is what the change was made to.
	Resource  Resource  `json:"resource"`
	Operation Operation `json:"operation"`
	Outcome   Outcome   `json:"outcome"`
	// MSRequestIDs are Microsoft's request ids of the operation's steps,
	// "step=MS-RequestId", sorted (jobs' outcomes).
	MSRequestIDs []string `json:"ms_request_ids,omitempty"`
	// KeyID names the key whose MAC seals the entry.
	KeyID string `json:"key_id"`
	// PrevMAC is the previous entry's MAC ("" for the first entry).
	PrevMAC string `json:"prev_mac"`
	// MAC is the hex HMAC-SHA256 of the canonical encoding (Canonical).
	MAC string `json:"mac"`
}

// Caller is who asked for a change.
type Caller struct {
	// Identity is the SPIFFE ID of the calling process's certificate (the
	// facade, a service, an operator's tool); for a job's outcome, the
	// service's own.
	Identity string `json:"identity,omitempty"`
	// The APS controller's headers, as the facade forwards them.
	APSIdentityID       string `json:"aps_identity_id,omitempty"`
	APSActorID          string `json:"aps_actor_id,omitempty"`
	APSAccountHierarchy string `json:"aps_account_hierarchy,omitempty"`
	APSTransactionID    string `json:"aps_transaction_id,omitempty"`
}

// Resource is what a change was made to.
type Resource struct {
	// Type is the kind of resource: tenant, instance, domain, subscription,
	// user (from the gRPC service or the lifecycle's name), admin.
	Type string `json:"type"`
	// ID is the request's id field or the resource's aps.id ("" when the
	// request names none).
	ID string `json:"id,omitempty"`
}

// Operation is what was done.
type Operation struct {
	// Method is the full gRPC method, or the job kind of a job's outcome.
	Method string `json:"method"`
	// Phase is the APS request phase, sync or async ("" for other callers).
	Phase string `json:"phase,omitempty"`
	// Attempt is the lifecycle attempt of a job's outcome.
	Attempt int `json:"attempt,omitempty"`
}

// Outcome is how a change ended.
type Outcome struct {
	// Code is the gRPC status code's name (OK, InvalidArgument, …).
	Code string `json:"code"`
	// Reason is the gateway's reason (apierr) of a refusal or failure.
	Reason string `json:"reason,omitempty"`
}

// Head is the last entry of a chain: what an operator keeps to detect a
// truncation later. The zero Head is an empty chain.
type Head struct {
	Seq int64  `json:"seq"`
	MAC string `json:"mac"`
}

// String is "seq:mac", the form the verify command takes.
func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + h.MAC }

// canonicalVersion starts every canonical encoding; a new encoding gets a
// new version so that old entries still verify.
const canonicalVersion = "o365gw-audit-v1"

// Canonical is the byte string an entry's MAC covers: a version tag, then
// every field but MAC (PrevMAC and KeyID included) in a fixed order, each
// as its length (uvarint) followed by its bytes, the request ids preceded
// by their count. It does not depend on how the entry is stored.
func (e *Entry) Canonical() []byte {
	b := make([]byte, 0, 512)
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	field(canonicalVersion)
	field(strconv.FormatInt(e.Seq, 10))
	field(strconv.FormatInt(e.Time.UnixMicro(), 10))
	field(e.Service)
	field(e.Kind)
	field(e.InstanceID)
	field(e.Caller.Identity)
	field(e.Caller.APSIdentityID)
	field(e.Caller.APSActorID)
	field(e.Caller.APSAccountHierarchy)
	field(e.Caller.APSTransactionID)
	field(e.Resource.Type)
	field(e.Resource.ID)
	field(e.Operation.Method)
	field(e.Operation.Phase)
	field(strconv.Itoa(e.Operation.Attempt))
	field(e.Outcome.Code)
	field(e.Outcome.Reason)
	b = binary.AppendUvarint(b, uint64(len(e.MSRequestIDs)))
	for _, id := range e.MSRequestIDs {
		field(id)
	}
	field(e.KeyID)
	field(e.PrevMAC)
	return b
}
