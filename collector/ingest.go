package collector

import (
	"context"
	"fmt"

	"github.com/hemlabs/hem/auth"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Input is one event for Ingest, as an edge (gRPC, HTTP, a file source, a
// replay) received it.
type Input struct {
	// Event is the event. When Err is set, it is what the edge could read
	// of it (its id, payload type URL, pinned schema id, attributes): the
	// result and the FailedEvent carry those.
	Event *eventv1.Event
	// Err, when non-nil, is why the edge could not read the event. A
	// *Rejection is final: the event is answered REJECTED and recorded as
	// a FailedEvent. Any other error is transient: the event is answered
	// RETRY with the error's text, and nothing is published.
	Err error
	// Origin is where in a file the event was read, set only by an
	// in-process edge (a file source); the wire edges have no way to set
	// it. A rejected input's FailedEvent carries it (its record as given:
	// the edge withheld the values of PII columns), and an accepted
	// event is published with the lineage attributes hem-source,
	// hem-source-uri, hem-source-generation, hem-source-entry (an
	// archive's) and hem-source-line, which sinks keep in _attributes.
	Origin *eventv1.Origin
	// Checked, set only by an in-process edge, is the id of the schema
	// that a Check of this same input (the same payload bytes) answered
	// ACCEPTED with: a file source checks every record of a file before
	// it ingests any. When the event resolves to that same schema id
	// again, protovalidate does not run a second time; everything else
	// does (envelope, event time window, decode, unknown fields, PII,
	// entity key). A schema id names one immutable version, and its
	// rules are a function of the message, so the answer cannot change;
	// the rules that read the clock (gt_now, lt_now, within) are the
	// exception, and for them the Check's answer, seconds older, is the
	// one the edge already acted on. Any other id (0, or a newer version
	// resolved since) validates as usual.
	Checked int64
	// Prepared, set only by an in-process edge with Checked, is what that
	// Check made of the payload (CheckPrepared): when the event resolves
	// to the Checked schema id again, Ingest publishes Prepared.Data and
	// its entity key as they are, without decoding the payload again. The
	// envelope, the event time window and the resolution are checked as
	// for any event; the payload is kept for the FailedEvent of a
	// rejection. The edge must pass them back unchanged: they are what
	// the decode, unknown fields, PII handling and entity key gave for
	// these payload bytes, and that schema id names one immutable version
	// (encrypted fields: the ciphertext Check made, under the keys it
	// resolved).
	Prepared *Prepared
}

// Prepared is what the core made of an accepted event's payload: the
// bytes it publishes (canonical, its PII handling applied) and its entity
// key ("" without one).
type Prepared struct {
	Data      []byte
	EntityKey string
}

// Rejection is an event its edge rejected for good before the core saw it,
// e.g. an HTTP event whose JSON does not decode.
type Rejection struct {
	// Stage and Reason default to STAGE_DECODE and REASON_DECODE_FAILED.
	Stage  eventv1.Stage
	Reason eventv1.Reason
	// Message says why, for the producer; it must not quote PII values.
	Message    string
	Violations []*eventv1.Violation
	// SchemaID is the schema the edge read the event with (0 when it
	// resolved none); the result and the FailedEvent name it.
	SchemaID int64
}

func (r *Rejection) Error() string { return r.Message }

func (r *Rejection) rejection() *rejection {
	rej := &rejection{stage: r.Stage, reason: r.Reason, message: r.Message, violations: r.Violations}
	if rej.stage == eventv1.Stage_STAGE_UNSPECIFIED {
		rej.stage = eventv1.Stage_STAGE_DECODE
	}
	if rej.reason == eventv1.Reason_REASON_UNSPECIFIED {
		rej.reason = eventv1.Reason_REASON_DECODE_FAILED
	}
	return rej
}

// edgeRejection is an internal rejection as the Rejection an edge passes.
func edgeRejection(rej *rejection, schemaID int64) *Rejection {
	return &Rejection{Stage: rej.stage, Reason: rej.reason, Message: rej.message, Violations: rej.violations, SchemaID: schemaID}
}

// Ingest runs the collector's per-event core over a batch an edge received
// from producer p, whom the edge authenticated: each event is resolved in
// the registry, decoded, validated, given its PII handling and published
// to hem-events; a rejected one (or one the edge rejected, see Input) is
// published to hem-failed as a FailedEvent. It returns one result per
// input, in order: ACCEPTED or REJECTED once Pub/Sub confirmed the
// publish, RETRY otherwise.
//
// The error refuses the whole batch, with nothing published: the
// collector is closing (ErrClosed), p may not send one of the types
// (ErrPermissionDenied), the batch breaks the limits (ErrBatchTooLarge),
// p is over its quota (ErrQuotaExceeded) or the in-flight budget has no
// room for it (ErrOverloaded), or ctx ended. Code maps it to a gRPC code.
//
// Ingest charges the batch's bytes to p's share and to the in-flight
// budget while it runs; the gRPC and HTTP edges charge what they receive
// before decoding it instead.
//
// An event id the edge gives is kept (a file source derives them, so a
// second load of the same records publishes the same ids); an event
// without one gets a UUIDv7.
//
// # In-process edges
//
// An edge inside the process (the file source loader, wired by
// internal/wiring) authenticates nobody: it passes a principal of its own,
// built with EdgePrincipal, allowed exactly the subject its source
// declares. Its quota has no rate limit (a 1 GB file is hundreds of
// batches a second) and the default share of the in-flight budget, so
// producers on the wire keep room; a batch refused for its share
// (ErrQuotaExceeded with a retry delay) is sent again after the delay.
func (c *Collector) Ingest(ctx context.Context, p *auth.Principal, in []Input) ([]*collectorv1.EventResult, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no principal", ErrUnauthenticated)
	}
	return c.collect(ctx, p, in, chargedNothing)
}

// eventInputs is events as Inputs, for the edges that read them all.
func eventInputs(events []*eventv1.Event) []Input {
	in := make([]Input, len(events))
	for i, e := range events {
		in[i].Event = e
	}
	return in
}

// EdgePrincipal is the principal of an in-process edge (a file source):
// name becomes the events' producer (_producer), subjects are the only
// types it may send. It has no rate limit, and the default share of the
// in-flight budget (auth.DefaultQuota).
func EdgePrincipal(name string, subjects ...string) *auth.Principal {
	return &auth.Principal{Name: name, Types: subjects, Quota: auth.DefaultQuota()}
}

// Check answers each input as Ingest would answer it, ACCEPTED or
// REJECTED with its reason and violations (RETRY when the registry cannot
// be reached), publishing nothing: neither the event nor a FailedEvent.
// It runs the same per-event core as Ingest (the types p may send,
// resolve, decode, unknown fields, protovalidate, PII handling), without
// building Pub/Sub messages, and charges neither p's quota nor the
// in-flight budget: it holds nothing beyond the call. A file source
// checks a whole file before it publishes any of it, to quarantine a file
// with too many rejects.
//
// An ACCEPTED answer is Ingest's answer for the same input now; Ingest
// can still answer RETRY (Pub/Sub), or REJECTED if the contract changed
// in between. The error refuses the whole batch as Ingest's does
// (ErrUnauthenticated, ErrClosed, ErrPermissionDenied, ErrBatchTooLarge,
// ctx). Safe for concurrent use.
func (c *Collector) Check(ctx context.Context, p *auth.Principal, in []Input) ([]*collectorv1.EventResult, error) {
	res, _, err := c.check(ctx, p, in, false)
	return res, err
}

// CheckPrepared is Check, and for each input it answers ACCEPTED, what
// Ingest would publish of it (the zero Prepared for the others): an
// in-process edge that ingests the same inputs later passes it back in
// Input.Prepared, with Input.Checked. The Data slices share one buffer
// per call.
func (c *Collector) CheckPrepared(ctx context.Context, p *auth.Principal, in []Input) ([]*collectorv1.EventResult, []Prepared, error) {
	return c.check(ctx, p, in, true)
}

func (c *Collector) check(ctx context.Context, p *auth.Principal, in []Input, keep bool) ([]*collectorv1.EventResult, []Prepared, error) {
	if p == nil {
		return nil, nil, fmt.Errorf("%w: no principal", ErrUnauthenticated)
	}
	if c.closed.Load() {
		return nil, nil, ErrClosed
	}
	if err := c.checkRequest(ctx, p, len(in), func(i int) string { return subjectOf(in[i].Event) }); err != nil {
		return nil, nil, err
	}
	if size := batchBytes(in); size > c.cfg.limits.MaxBatchBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, the limit is %d per request", ErrBatchTooLarge, size, c.cfg.limits.MaxBatchBytes)
	}
	var kept []Prepared
	if keep {
		kept = make([]Prepared, len(in))
	}
	results, _, _, err := c.prepareAll(ctx, p, in, false, kept)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range results {
		sanitizeResult(r)
	}
	return results, kept, nil
}
