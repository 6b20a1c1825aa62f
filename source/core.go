package source

import (
	"context"
	"errors"
	"time"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/ledger"
)

// Input is one event for the collector's core, as collector.Input plus its
// origin in the file.
type Input struct {
	// Event is the event: id, payload (an Any with the subject's type URL),
	// event time. For a rejected record, what the loader could make of it:
	// its id and the payload's type URL.
	Event *eventv1.Event
	// Rejection, when non-nil, is why the record (or the whole file) was
	// rejected before the core saw it: the core records it as a FailedEvent.
	Rejection *Rejection
	// Origin is where in which object the record was read.
	Origin *eventv1.Origin
	// Checked is the schema id the core's Check accepted this same input
	// with (pass 1), 0 when it was not checked: the core need not run the
	// contract's rules again while the subject resolves to that id.
	Checked int64
	// Prepared, with Checked, is what that Check made of the payload: the
	// core publishes it as is while the subject resolves to that id, and
	// need not decode the payload again. Nil: the core decodes it.
	Prepared *Prepared
}

// Prepared is what the core's Check made of an accepted input's payload:
// the bytes it publishes (canonical, the PII handling applied) and its
// entity key.
type Prepared struct {
	Data      []byte
	EntityKey string
}

// CheckResult is the core's answer to one input of a Check.
type CheckResult struct {
	Result *collectorv1.EventResult
	// Prepared, for an ACCEPTED input, is what Ingest would publish of it
	// (nil when the core keeps nothing): pass 2 hands it back in
	// Input.Prepared.
	Prepared *Prepared
}

// GetStatus is the answer's status.
func (r CheckResult) GetStatus() collectorv1.EventStatus { return r.Result.GetStatus() }

// Rejection is a record the loader rejected for good: it could not be read
// or mapped, or its whole file failed.
type Rejection struct {
	Stage      eventv1.Stage
	Reason     eventv1.Reason
	Message    string
	Violations []*eventv1.Violation
}

// Core is what the loader needs of the collector's per-event core;
// internal/wiring adapts *collector.Collector to it. Both methods are called
// concurrently.
type Core interface {
	// Check answers each input as Ingest would (ACCEPTED, or REJECTED with
	// its violations), publishing nothing, and gives what it would publish
	// of the accepted ones. It keeps nothing of in once it returns.
	Check(ctx context.Context, in []Input) ([]CheckResult, error)
	// Ingest publishes: one result per input, ACCEPTED or REJECTED once
	// Pub/Sub confirmed, RETRY otherwise. It keeps nothing of in once it
	// returns: the loader reuses the messages. An error refuses the whole batch
	// with nothing published; the loader retries it, unless it wraps
	// ErrRefused.
	Ingest(ctx context.Context, in []Input) ([]*collectorv1.EventResult, error)
}

// Ledger is what the loader needs of the ledger; *ledger.Ledger is one.
type Ledger interface {
	// Claim takes the entry (source, uri, generation) for owner for lease;
	// claimed=false with the entry as stored when it is done or another
	// owner's lease runs.
	Claim(ctx context.Context, e *sourcev1.LedgerEntry, owner string, lease time.Duration) (entry *sourcev1.LedgerEntry, claimed bool, err error)
	// Update writes e and renews the lease if the owner still holds it;
	// an error wrapping ledger.ErrLost when another owner took it over.
	Update(ctx context.Context, e *sourcev1.LedgerEntry, lease time.Duration) error
}

var _ Ledger = (*ledger.Ledger)(nil)

var (
	// ErrBusy is returned (wrapped) by Load when another loader holds the
	// object and its lease runs: retry later.
	ErrBusy = errors.New("source: another loader holds the object")
	// ErrRefused, wrapped in an error of Core, says the core refused a
	// batch for good (e.g. the loader may not publish the subject): the
	// load stops instead of retrying.
	ErrRefused = errors.New("source: the core refused the batch")
)
