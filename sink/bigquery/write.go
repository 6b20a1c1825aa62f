package bigquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// errSchemaPending is why events of a version whose new columns the Write
// API does not accept yet are retried later.
var errSchemaPending = errors.New("BigQuery does not accept the new columns yet (a table change takes minutes to reach the Storage Write API); retrying later")

// Write appends the batch's rows, each with the columns of the newest
// version in the batch. While the Write API does not yet see that version's
// new columns, rows of older versions are written and the newer ones fail
// with a retryable error.
//
// Write returns when BigQuery answered every request, when ctx ends, or
// with a retryable ErrUnavailable once BigQuery cannot be reached (within
// seconds) or has not answered within Config.WriteTimeout. A request
// BigQuery refuses as too large is split in halves and sent again.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	ts := s.table(b.Subject)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ctx, stop := s.watch(ctx)
	defer stop()
	return s.write(ctx, ts, b.Events)
}

func (s *Sink) write(ctx context.Context, ts *tableState, events []*sink.Event) error {
	newest := (&sink.Batch{Events: events}).Newest()
	if err := s.migrate(ctx, ts, newest, false); err != nil {
		return cause(ctx, err)
	}
	var err error
	if at, ok := ts.refused[newest.Version]; ok && s.cfg.Now().Sub(at) < s.cfg.SchemaRetryInterval {
		err = errSchemaPending
	} else {
		err = s.append(ctx, ts, newest, events)
		if !isSchemaMismatch(err) {
			if err == nil {
				delete(ts.refused, newest.Version)
			}
			return err
		}
		ts.refused[newest.Version] = s.cfg.Now()
		err = fmt.Errorf("%w: %w", errSchemaPending, err)
	}
	// Older versions keep flowing with their own columns.
	failed := map[int]error{}
	var older []*sink.Event
	var olderIdx []int
	for i, e := range events {
		if e.Schema.Version < newest.Version {
			older, olderIdx = append(older, e), append(olderIdx, i)
		} else {
			failed[i] = err
		}
	}
	if len(older) > 0 {
		olderErr := s.write(ctx, ts, older)
		for j, i := range olderIdx {
			if e := sink.ErrorFor(olderErr, j); e != nil {
				failed[i] = e
			}
		}
	}
	return &sink.BatchError{Failed: failed}
}

// request is one AppendRows request: the rows of some of the events.
type request struct {
	rows   [][]byte
	events []int // indexes into the batch
	size   int   // bytes of rows in the request
	sent   time.Time
	alone  int // times this one-row request was sent alone after a size refusal
	result *managedwriter.AppendResult
	err    error // AppendRows' own error
}

// append encodes events with the row schema of sch and appends them in
// requests under the size limit.
func (s *Sink) append(ctx context.Context, ts *tableState, sch *contract.Schema, events []*sink.Event) error {
	if err := s.health.down(); err != nil {
		// Do not queue more requests behind a connection the library is
		// still trying to open; ask whether BigQuery is back first.
		if err := s.probe(ctx, ts); err != nil {
			return err
		}
	}
	rs, ms, err := s.stream(ctx, ts, sch)
	if err != nil {
		return cause(ctx, err)
	}
	failed := map[int]error{}
	var reqs []*request
	cur := &request{}
	limit := s.cfg.MaxRequestBytes - rs.schemaSize
	for i, e := range events {
		row, err := rs.AppendRow(nil, e)
		if err != nil {
			failed[i] = sink.Permanent(fmt.Errorf("bigquery: event %s: %w", e.ID, err))
			continue
		}
		n := len(row) + 8 // the row's tag and length in the request
		if n > limit {
			failed[i] = sink.Permanent(fmt.Errorf("bigquery: event %s is a %d-byte row; an AppendRows request takes at most %d (--bigquery-max-request-bytes)", e.ID, len(row), limit))
			continue
		}
		if cur.size+n > limit {
			reqs, cur = append(reqs, cur), &request{}
		}
		cur.rows, cur.events, cur.size = append(cur.rows, row), append(cur.events, i), cur.size+n
	}
	if len(cur.rows) > 0 {
		reqs = append(reqs, cur)
	}
	// The batch's requests go out together; what comes back refused as
	// too large goes again in halves, one request at a time.
	s.send(ctx, ms, reqs)
	var mismatch, first error
	for len(reqs) > 0 {
		r := reqs[0]
		reqs = reqs[1:]
		if r.result == nil && r.err == nil {
			s.send(ctx, ms, []*request{r})
		}
		resp, err := s.await(ctx, r)
		if err == nil {
			continue
		}
		if rowErrs := resp.GetRowErrors(); len(rowErrs) > 0 {
			// The request was refused as a whole: bad rows are bad for
			// good, the others go again.
			bad := map[int64]string{}
			for _, re := range rowErrs {
				bad[re.GetIndex()] = re.GetMessage()
			}
			for j, i := range r.events {
				if msg, ok := bad[int64(j)]; ok {
					failed[i] = sink.Permanent(fmt.Errorf("bigquery: %s refused event %s: %s", ts.name, events[i].ID, msg))
				} else {
					failed[i] = fmt.Errorf("bigquery: %s refused a request with a bad row; this event was fine and goes again", ts.name)
				}
			}
			continue
		}
		if isTooLarge(err) && ctx.Err() == nil {
			// The server's limit is below MaxRequestBytes. A refusal ends
			// the connection, failing the requests queued behind the big
			// one alike, so a single row is tried alone again before it
			// fails for good.
			switch {
			case len(r.rows) > 1:
				reqs = append(r.halves(), reqs...)
			case r.alone < 2:
				reqs = append([]*request{{rows: r.rows, events: r.events, size: r.size, alone: r.alone + 1}}, reqs...)
			default:
				i := r.events[0]
				failed[i] = sink.Permanent(fmt.Errorf("bigquery: %s refused event %s, alone in a %d-byte request, as too large: %w", ts.name, events[i].ID, r.size+rs.schemaSize, err))
			}
			continue
		}
		if isSchemaMismatch(err) {
			mismatch = err
		}
		if first == nil {
			first = err
		}
		for _, i := range r.events {
			failed[i] = fmt.Errorf("bigquery: append to %s: %w", ts.name, err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case mismatch != nil && len(failed) == len(events):
		return fmt.Errorf("bigquery: append to %s: %w", ts.name, mismatch)
	case first != nil && len(failed) == len(events) && !anyPermanent(failed):
		// One cause for the whole batch (BigQuery unreachable, say): one
		// error, so that the processor logs it once, as it is.
		return fmt.Errorf("bigquery: append to %s: %w", ts.name, first)
	}
	return &sink.BatchError{Failed: failed}
}

func anyPermanent(failed map[int]error) bool {
	for _, err := range failed {
		if sink.IsPermanent(err) {
			return true
		}
	}
	return false
}

// halves splits a request's rows in two.
func (r *request) halves() []*request {
	mid := len(r.rows) / 2
	out := []*request{{rows: r.rows[:mid], events: r.events[:mid]}, {rows: r.rows[mid:], events: r.events[mid:]}}
	for _, h := range out {
		for _, row := range h.rows {
			h.size += len(row) + 8
		}
	}
	return out
}

// send queues the requests on the stream: AppendRows returns once a
// request is on its way, and the answers come in order.
func (s *Sink) send(ctx context.Context, ms *managedwriter.ManagedStream, reqs []*request) {
	for _, r := range reqs {
		r.sent = time.Now()
		r.result, r.err = ms.AppendRows(ctx, r.rows)
	}
}

// await returns BigQuery's answer to a request, with the reason the
// server gave where the library kept only a later io.EOF.
func (s *Sink) await(ctx context.Context, r *request) (*storagepb.AppendRowsResponse, error) {
	if r.err != nil {
		return nil, cause(ctx, r.err)
	}
	resp, err := r.result.FullResponse(ctx)
	if err == nil {
		return resp, nil
	}
	if ctx.Err() != nil {
		return resp, cause(ctx, err)
	}
	// The library retries some refusals and then reports the failure of
	// the last retry (often io.EOF on a stream the server had closed);
	// the first response still holds the server's reason.
	if st := resp.GetError(); st != nil {
		if serverErr := status.ErrorProto(st); serverErr.Error() != err.Error() {
			err = fmt.Errorf("%w (retried: %v)", serverErr, err)
		}
	} else if errors.Is(err, io.EOF) {
		// The server ended the stream; its status went to the receive side.
		if ended := s.health.endedSince(r.sent); ended != nil {
			err = fmt.Errorf("%w (then: %v)", ended, err)
		}
	}
	return resp, err
}

// probe asks the Write API whether it answers again, with a short timeout:
// the health of the connections is learnt from the calls they make.
func (s *Sink) probe(ctx context.Context, ts *tableState) error {
	pctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	_, err := s.mw.GetWriteStream(pctx, &storagepb.GetWriteStreamRequest{Name: s.defaultStream(ts)})
	if err == nil || status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		return nil
	}
	if err := s.health.down(); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (s *Sink) defaultStream(ts *tableState) string {
	return managedwriter.TableParentFromParts(s.cfg.Project, s.cfg.Dataset, ts.name) + "/streams/_default"
}

// stream returns the row schema of sch and a managed stream writing it to
// the table's default stream. Streams share connections unless
// multiplexing is off.
func (s *Sink) stream(ctx context.Context, ts *tableState, sch *contract.Schema) (*RowSchema, *managedwriter.ManagedStream, error) {
	rs, ok := ts.rows[sch.ID]
	if !ok {
		t, err := contract.MapTable(sch.Descriptor())
		if err != nil {
			return nil, nil, sink.Permanent(err)
		}
		if rs, err = NewRowSchema(t); err != nil {
			return nil, nil, sink.Permanent(err)
		}
		ts.rows[sch.ID] = rs
	}
	if ms, ok := ts.streams[sch.ID]; ok {
		return rs, ms, nil
	}
	if err := s.confirmColumns(ctx, ts, rs); err != nil {
		return nil, nil, err
	}
	// The stream keeps the context it is opened with for its connections,
	// so it gets one of the sink's life; but opening it (a GetWriteStream
	// the client retries for up to 10 minutes) is this write's business.
	life, cancel := context.WithCancel(s.life)
	stop := context.AfterFunc(ctx, cancel)
	ms, err := s.mw.NewManagedStream(life,
		managedwriter.WithDestinationTable(managedwriter.TableParentFromParts(s.cfg.Project, s.cfg.Dataset, ts.name)),
		managedwriter.WithType(managedwriter.DefaultStream),
		managedwriter.WithSchemaDescriptor(rs.Descriptor()),
		managedwriter.EnableWriteRetries(true))
	if !stop() || err != nil {
		if ms != nil {
			_ = ms.Close()
		}
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, fmt.Errorf("bigquery: open the default stream of %s: %w", ts.name, cause(ctx, err))
	}
	ts.streams[sch.ID] = ms
	ts.cancels = append(ts.cancels, cancel)
	return rs, ms, nil
}

// isSchemaMismatch reports whether the Write API refused rows because the
// table (as it sees it) lacks their columns.
func isSchemaMismatch(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errColumnsNotVisible) {
		return true
	}
	st, ok := status.FromError(err) // unwraps, keeping the details
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if se, ok := d.(*storagepb.StorageError); ok && se.GetCode() == storagepb.StorageError_SCHEMA_MISMATCH_EXTRA_FIELDS {
			return true
		}
	}
	msg := strings.ToLower(st.Message())
	return st.Code() == codes.InvalidArgument && (strings.Contains(msg, "extra field") || strings.Contains(msg, "more fields than"))
}

// isTooLarge reports whether the server refused a request for its size:
// BigQuery's INVALID_ARGUMENT "AppendRows request too large", or a gRPC
// server's message size limit.
func isTooLarge(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	msg := strings.ToLower(st.Message())
	switch st.Code() {
	case codes.InvalidArgument:
		return strings.Contains(msg, "too large") || strings.Contains(msg, "request size")
	case codes.ResourceExhausted:
		return strings.Contains(msg, "larger than max")
	}
	return false
}

// isCleanClose reports whether a stream's Close error only says it is
// closed: the library returns io.EOF for a stream closed in good order.
func isCleanClose(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled
}
