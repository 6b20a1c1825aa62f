package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultMaxRejectedShare is the share of rejected records above which a
// file is quarantined when its declaration sets none.
const defaultMaxRejectedShare = 0.05

// Loader loads objects of file sources, each exactly once: it claims the
// object in the ledger, reads it a first time to count the records the
// contract rejects (quarantining the file when they are too many), then a
// second time to hand every record to the collector's core, writing a
// checkpoint as Pub/Sub confirms them so that a loader taking over resumes
// there. A Loader is safe for concurrent use; each Load uses its own
// goroutines and ends them before it returns.
type Loader struct {
	core   Core
	ledger Ledger
	cfg    config
	// open reads an object; read.Open but in tests.
	open func(ctx context.Context, obj read.Object, src *sourcev1.Source, lim read.Limits) (records, error)
}

// records is the stream of an object's records (*read.Reader).
type records interface {
	Next(ctx context.Context) (read.Record, error)
	Close() error
}

// mapper maps records (*mapping.Mapping).
type mapper interface {
	Map(rec read.Record) (mapping.Mapped, error)
	WithholdPII(rec read.Record) string
	PIIColumns() []string
}

// NewLoader returns a Loader that hands records to core and records each
// object in l (a *ledger.Ledger).
func NewLoader(core Core, l Ledger, opts ...Option) (*Loader, error) {
	if core == nil || l == nil {
		return nil, errors.New("source: a loader needs a core and a ledger")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Loader{core: core, ledger: l, cfg: cfg, open: openReader}, nil
}

func openReader(ctx context.Context, obj read.Object, src *sourcev1.Source, lim read.Limits) (records, error) {
	r, err := read.Open(ctx, obj, src, lim)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Load loads obj, an object of src mapped by m, exactly once, and returns
// its ledger entry as the load left it.
//
// An object already done (LOADED, QUARANTINED, FAILED) is not read again:
// Load returns its entry and no error. One another loader holds returns an
// error wrapping ErrBusy: retry later. An object that is not what src
// declares ends FAILED, one whose rejected records exceed the source's share
// ends QUARANTINED; either way one FailedEvent says why and Load returns no
// error. When ctx ends, or another loader took the object over (an error
// wrapping ledger.ErrLost), Load stops at once and the entry stays LOADING
// at its checkpoint for the next loader.
func (l *Loader) Load(ctx context.Context, src *sourcev1.Source, m *mapping.Mapping, obj read.Object) (*sourcev1.LedgerEntry, error) {
	if m == nil {
		return nil, errors.New("source: no mapping")
	}
	return l.load(ctx, src, m, obj)
}

func (l *Loader) load(ctx context.Context, src *sourcev1.Source, m mapper, obj read.Object) (*sourcev1.LedgerEntry, error) {
	a := obj.Attrs()
	e, claimed, err := l.ledger.Claim(ctx, &sourcev1.LedgerEntry{
		Source:     src.GetName(),
		Uri:        a.URI,
		Generation: a.Generation,
		Size:       a.Size,
		Crc32C:     a.CRC32C,
		Md5:        a.MD5,
	}, l.cfg.owner, l.cfg.lease)
	if err != nil {
		return nil, fmt.Errorf("source: claim %s: %w", a.URI, err)
	}
	if !claimed {
		if e.GetStatus() == sourcev1.Status_STATUS_LOADING {
			return e, fmt.Errorf("%w: %s is held by %s until %s", ErrBusy, a.URI, e.GetOwner(), e.GetLeaseUntil().AsTime().Format(time.RFC3339))
		}
		return e, nil
	}
	ld := &load{
		Loader:   l,
		src:      src,
		m:        m,
		obj:      obj,
		attrs:    a,
		entry:    e,
		keyed:    len(src.GetKey()) > 0,
		readRule: readRule(src),
		pii:      len(m.PIIColumns()) > 0,
		typeURL:  "type.googleapis.com/" + src.GetSubject(),
	}
	return ld.entry, ld.run(ctx)
}

// load is one Load of one object.
type load struct {
	*Loader
	src     *sourcev1.Source
	m       mapper
	obj     read.Object
	attrs   read.ObjectAttrs
	entry   *sourcev1.LedgerEntry
	keyed   bool
	typeURL string
	// readRule is the rule id of a record that could not be read.
	readRule string
	// pii: the mapping reads PII columns.
	pii bool
	// spill is what pass 1 made of the records, for pass 2; nil when
	// spilling is off or this load is a takeover.
	spill *spill
}

func (ld *load) run(ctx context.Context) error {
	e := ld.entry
	if e.GetAttempts() > ld.cfg.maxAttempts {
		return ld.fail(ctx, eventv1.Reason_REASON_FILE_UNREADABLE,
			fmt.Sprintf("gave up after %d attempts to load it: each loader stopped before the end (see the loader's logs)", e.GetAttempts()-1))
	}
	// Records > 0 says pass 1 already decided to publish (a takeover): only
	// pass 2 is left, from the checkpoint.
	if e.GetRecords() == 0 {
		if ld.cfg.spillMax > 0 {
			sp, err := newSpill(ld.cfg.spillDir, ld.cfg.spillMax)
			if err != nil {
				ld.cfg.logger.WarnContext(ctx, "source: no spill; pass 2 reads the object again", "uri", ld.attrs.URI, "err", err)
			} else {
				ld.spill = sp
				defer sp.close()
			}
		}
		t, err := ld.pass1(ctx)
		var fe *read.FileError
		switch {
		case err != nil && ctx.Err() == nil && errors.As(err, &fe) && !transient(err):
			return ld.fail(ctx, eventv1.Reason_REASON_FILE_UNREADABLE, fe.Reason)
		case err != nil:
			return err
		case t.records == 0:
			return ld.fail(ctx, eventv1.Reason_REASON_FILE_UNREADABLE, "the object holds no records")
		}
		if limit := ld.maxRejectedShare(); float64(t.rejected) > limit*float64(t.records) {
			return ld.quarantine(ctx, t, limit)
		}
		e.Records = t.records
		e.Accepted, e.Rejected, e.Checkpoint = 0, 0, 0
		if err := ld.update(ctx); err != nil {
			return err
		}
	}
	if err := ld.pass2(ctx); err != nil {
		// The object is pinned to its generation: gone, it cannot come
		// back, and what was published stays.
		if ctx.Err() == nil && errors.Is(err, read.ErrObjectGone) {
			why := err.Error()
			if fe := (*read.FileError)(nil); errors.As(err, &fe) {
				why = fe.Reason
			}
			return ld.fail(ctx, eventv1.Reason_REASON_FILE_UNREADABLE,
				fmt.Sprintf("%s, after %s of its %s records were published", why, group(e.GetCheckpoint()), group(e.GetRecords())))
		}
		return err
	}
	e.Status = sourcev1.Status_STATUS_LOADED
	e.Reason = ""
	e.Records = e.GetAccepted() + e.GetRejected()
	e.FinishedAt = timestamppb.Now()
	return ld.update(ctx)
}

// readRule is the rule id of a record of src that could not be read:
// read.csv, read.json or read.parquet.
func readRule(src *sourcev1.Source) string {
	switch src.GetFormat().GetKind().(type) {
	case *sourcev1.Format_Json:
		return "read.json"
	case *sourcev1.Format_Parquet:
		return "read.parquet"
	}
	return "read.csv"
}

// transient reports whether err, which stopped reading the object, may
// pass on a retry (the network, GCS answering 429 or 5xx): the load then
// stops with the error and the next attempt resumes from the checkpoint,
// instead of failing the file for good. Max attempts bounds the retries.
func transient(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code == http.StatusTooManyRequests || ge.Code >= 500
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		switch s.Code() {
		case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Internal:
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne)
}

func (ld *load) maxRejectedShare() float64 {
	if ld.src.MaxRejectedShare != nil {
		return ld.src.GetMaxRejectedShare()
	}
	return defaultMaxRejectedShare
}

// quarantine ends a file with too many rejected records: one FailedEvent,
// nothing else published.
func (ld *load) quarantine(ctx context.Context, t tally, limit float64) error {
	msg := fmt.Sprintf("%s of %s records rejected (%s %%), above the source's %s %%",
		group(t.rejected), group(t.records), strconv.FormatFloat(100*float64(t.rejected)/float64(t.records), 'f', 1, 64),
		strconv.FormatFloat(100*limit, 'f', -1, 64))
	if t.first != "" {
		msg += "; first: " + t.first
	}
	if err := ld.publishFileFailure(ctx, eventv1.Reason_REASON_FILE_QUARANTINED, msg); err != nil {
		return err
	}
	e := ld.entry
	e.Status = sourcev1.Status_STATUS_QUARANTINED
	e.Reason = msg
	e.Records, e.Accepted, e.Rejected = t.records, 0, t.rejected
	e.FinishedAt = timestamppb.Now()
	return ld.update(ctx)
}

// fail ends a file that could not be read as declared: one FailedEvent.
func (ld *load) fail(ctx context.Context, reason eventv1.Reason, msg string) error {
	if err := ld.publishFileFailure(ctx, reason, msg); err != nil {
		return err
	}
	e := ld.entry
	e.Status = sourcev1.Status_STATUS_FAILED
	e.Reason = msg
	e.FinishedAt = timestamppb.Now()
	return ld.update(ctx)
}

// publishFileFailure publishes the one FailedEvent of a whole file; its id
// comes from the object and the reason, so a loader that fails the file
// again after a crash publishes the same event.
func (ld *load) publishFileFailure(ctx context.Context, reason eventv1.Reason, msg string) error {
	var ids idBuilder
	in := []Input{{
		Event: &eventv1.Event{
			EventId:   ids.fileID(ld.src.GetName(), ld.attrs.URI, ld.attrs.Generation, reason.String()),
			Payload:   ld.emptyPayload(),
			EventTime: ld.created(),
		},
		Rejection: &Rejection{Stage: eventv1.Stage_STAGE_READ, Reason: reason, Message: msg},
		Origin:    &eventv1.Origin{Source: ld.src.GetName(), Uri: ld.attrs.URI, Generation: ld.attrs.Generation},
	}}
	res, err := settle(ctx, ld, ld.core.Ingest, in)
	if err != nil {
		return fmt.Errorf("source: publish the failure of %s: %w", ld.attrs.URI, err)
	}
	ld.entry.FirstEventId = res[0].GetEventId()
	ld.entry.LastEventId = res[0].GetEventId()
	return nil
}

// update writes the entry (renewing the lease).
func (ld *load) update(ctx context.Context) error {
	ld.entry.UpdatedAt = timestamppb.Now()
	if err := ld.ledger.Update(ctx, ld.entry, ld.cfg.lease); err != nil {
		return fmt.Errorf("source: ledger update of %s: %w", ld.attrs.URI, err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// group writes n with thousands separators: 1,000.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
