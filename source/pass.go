package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// item is one record as read: err is why it could not be read (a
// *read.RecordError's).
type item struct {
	rec read.Record
	err error
}

// batch is consecutive records of the object, in read order: read from
// the object (items), or a block of the spill (raw, its body).
type batch struct {
	seq   int64
	items []item
	raw   []byte
	// n is how many records it holds, end the checkpoint once it is
	// confirmed: the number of the record after its last.
	n   int
	end int64
	// Pass 2: the inputs, one per record, their messages (slab), and
	// what the core answered.
	inputs        []Input
	slab          *slab
	acc, rej      int64
	firstID, last string
}

// tally counts pass 1's records.
type tally struct {
	records, rejected int64
	// first describes the first rejected record (the lowest number).
	first       string
	firstNumber int64
}

func (t *tally) reject(rec read.Record, why string) {
	t.rejected++
	if t.first == "" || rec.Number < t.firstNumber {
		t.first, t.firstNumber = where(rec)+" "+why, rec.Number
	}
}

func (t *tally) add(o tally) {
	t.records += o.records
	if o.rejected == 0 {
		return
	}
	t.rejected += o.rejected
	if t.first == "" || o.firstNumber < t.firstNumber {
		t.first, t.firstNumber = o.first, o.firstNumber
	}
}

func where(rec read.Record) string {
	if rec.Entry != "" {
		return fmt.Sprintf("%s line %d", rec.Entry, rec.Line)
	}
	return fmt.Sprintf("line %d", rec.Line)
}

// readBatches reads the object into batches of the records numbered from
// on. With a window, it takes a slot of it for every batch (the tracker
// gives it back), so that at most cap(window) batches are in the pipeline:
// memory stays bounded whatever the file's size.
func (ld *load) readBatches(ctx context.Context, rd records, from int64, out chan<- *batch, window chan struct{}) error {
	var seq int64
	b := &batch{items: getItems(ld.cfg.batchSize)}
	send := func() error {
		if window != nil {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b.seq = seq
		b.n, b.end = len(b.items), b.items[len(b.items)-1].rec.Number+1
		seq++
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		b = &batch{items: getItems(ld.cfg.batchSize)}
		return nil
	}
	for {
		rec, err := rd.Next(ctx)
		it := item{rec: rec}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(b.items) > 0 {
					return send()
				}
				return nil
			}
			re := asRecordError(err)
			if re == nil {
				return err
			}
			// The origin names the line: the message is only why.
			it = item{rec: re.Record, err: re.Err}
			if it.err == nil {
				it.err = re
			}
		}
		if it.rec.Number < from {
			continue
		}
		b.items = append(b.items, it)
		if len(b.items) == ld.cfg.batchSize {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// itemSlices holds the items of batches done with, for the next.
var itemSlices sync.Pool

func getItems(n int) []item {
	if p, ok := itemSlices.Get().(*[]item); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]item, 0, n)
}

// putItems gives back a batch's items once nothing refers to them (the
// inputs built from them hold only copies and strings).
func putItems(items []item) {
	clear(items) // drop the records' values
	items = items[:0]
	itemSlices.Put(&items)
}

// withheld is the text of a record whose PII columns cannot be told apart.
const withheld = "[PII withheld]"

func asRecordError(err error) *read.RecordError {
	var re *read.RecordError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// worker maps records; one per goroutine.
type worker struct {
	*load
	ids  idBuilder
	in   []Input
	idx  []int
	slab *slab // pass 1's, reused; in pass 2, the batch's
	recs []spillRecord
}

// slab holds the messages of one batch's events: one allocation of each
// kind per batch instead of one per event. A batch's inputs point into
// it: pass 1 reuses its worker's (Check keeps nothing), pass 2 hands each
// batch its own and takes it back once the core answered (Ingest keeps
// nothing of its inputs either), for a later batch (getSlab).
type slab struct {
	events   []eventv1.Event
	anys     []anypb.Any
	origins  []eventv1.Origin
	times    []timestamppb.Timestamp
	n        int
	prepared []Prepared // pass 2's, from the spill
}

// prepare returns a Prepared of the batch holding data and key.
func (s *slab) prepare(data []byte, key string) *Prepared {
	s.prepared = append(s.prepared, Prepared{Data: data, EntityKey: key})
	return &s.prepared[len(s.prepared)-1]
}

func (s *slab) reset(n int) {
	s.events, s.anys = make([]eventv1.Event, n), make([]anypb.Any, n)
	s.origins, s.times = make([]eventv1.Origin, n), make([]timestamppb.Timestamp, n)
	s.prepared = make([]Prepared, 0, n) // prepare never grows it: the inputs point into it
	s.n = 0
}

// slabs holds pass 2's slabs the core is done with.
var slabs sync.Pool

// getSlab returns a slab ready for n events: a pooled one, cleared, or a
// new one.
func getSlab(n int) *slab {
	s, _ := slabs.Get().(*slab)
	if s == nil {
		s = new(slab)
	}
	if cap(s.events) < n || cap(s.prepared) < n {
		s.reset(n)
		return s
	}
	s.reuse(n)
	s.prepared = s.prepared[:0]
	return s
}

// putSlab gives back a slab nothing refers to any more.
func putSlab(s *slab) {
	if s == nil {
		return
	}
	clear(s.prepared[:cap(s.prepared)]) // drop the spill blocks they hold
	slabs.Put(s)
}

// reuse is reset for a batch whose inputs are dropped before the next
// batch (pass 1's: Check keeps nothing): the same messages, cleared.
func (s *slab) reuse(n int) {
	if cap(s.events) < n {
		s.reset(n)
		return
	}
	s.events, s.anys, s.origins, s.times = s.events[:n], s.anys[:n], s.origins[:n], s.times[:n]
	clear(s.events)
	clear(s.anys)
	clear(s.origins)
	clear(s.times)
	s.n = 0
}

// next returns the messages of the batch's next event.
func (s *slab) next() (*eventv1.Event, *anypb.Any, *eventv1.Origin, *timestamppb.Timestamp) {
	i := s.n
	s.n++
	return &s.events[i], &s.anys[i], &s.origins[i], &s.times[i]
}

// pass1 reads, maps and checks every record, publishing nothing, and
// counts the records and the rejected ones.
func (ld *load) pass1(ctx context.Context) (tally, error) {
	rd, err := ld.open(ctx, ld.obj, ld.src, ld.cfg.limits)
	if err != nil {
		return tally{}, err
	}
	defer rd.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	// The window bounds the batches between the reader and the spill,
	// which takes them in the object's order.
	window := make(chan struct{}, 2*ld.cfg.workers+2)
	batches := make(chan *batch, ld.cfg.workers)
	checked := make(chan checkedBatch, cap(window))
	g.Go(func() error {
		defer close(batches)
		return ld.readBatches(gctx, rd, 0, batches, window)
	})
	var wg sync.WaitGroup
	for range ld.cfg.workers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			w := &worker{load: ld}
			for b := range batches {
				c, err := w.check(gctx, b)
				if err != nil {
					return err
				}
				checked <- c // never blocks: checked has room for the whole window
			}
			return nil
		})
	}
	go func() { wg.Wait(); close(checked) }()

	var total tally
	var lost error
	pending := map[int64]checkedBatch{}
	next := int64(0)
	tick := time.NewTicker(ld.cfg.checkpointEvery)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case c, ok := <-checked:
			if !ok {
				done = true
				break
			}
			total.add(c.tally)
			pending[c.seq] = c
			for {
				c, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				<-window
				ld.spillBlock(ctx, c.block)
			}
		case <-tick.C:
			if lost == nil {
				if lost = ld.renew(ctx); lost != nil {
					cancel()
				}
			}
		}
	}
	err = g.Wait()
	if lost != nil {
		return total, lost
	}
	return total, err
}

// renew renews the lease; only losing the entry stops the load (a failed
// write is tried again at the next tick, well within the lease).
func (ld *load) renew(ctx context.Context) error {
	err := ld.update(ctx)
	if errors.Is(err, ledger.ErrLost) {
		return err
	}
	if err != nil && ctx.Err() == nil {
		ld.cfg.logger.WarnContext(ctx, "source: renewing the lease failed", "uri", ld.attrs.URI, "err", err)
	}
	return nil
}

// checkedBatch is a batch pass 1 checked: its tally, and its spill block
// (nil without a spill).
type checkedBatch struct {
	seq   int64
	tally tally
	block []byte
}

// spillBlock writes a batch's block to the spill, in the object's order;
// once the spill is dropped (over its cap, a write failed), pass 2 reads
// the object.
func (ld *load) spillBlock(ctx context.Context, block []byte) {
	sp := ld.spill
	if sp == nil || sp.dropped != nil || block == nil {
		return
	}
	defer putSpillBuffer(block)
	if err := sp.write(block); err != nil {
		ld.cfg.logger.InfoContext(ctx, "source: pass 2 reads the object again", "uri", ld.attrs.URI, "why", err)
	}
}

// check maps and checks a batch (pass 1), and makes its spill block: the
// inputs pass 2 would build, so that it need not build them again.
func (w *worker) check(ctx context.Context, b *batch) (checkedBatch, error) {
	c := checkedBatch{seq: b.seq, tally: tally{records: int64(len(b.items))}}
	t := &c.tally
	if w.slab == nil {
		w.slab = new(slab)
	}
	w.buildInto(b, w.slab.reuse)
	w.in, w.idx = w.in[:0], w.idx[:0]
	for i, in := range b.inputs {
		if in.Rejection != nil {
			t.reject(b.items[i].rec, in.Rejection.Message)
			continue
		}
		w.in = append(w.in, in)
		w.idx = append(w.idx, i)
	}
	if len(w.in) > 0 {
		res, err := settle(ctx, w.load, w.core.Check, w.in)
		if err != nil {
			return c, fmt.Errorf("source: check: %w", err)
		}
		for j, r := range res {
			switch r.GetStatus() {
			case collectorv1.EventStatus_EVENT_STATUS_REJECTED:
				t.reject(b.items[w.idx[j]].rec, describeResult(r.Result))
			case collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
				in := &b.inputs[w.idx[j]]
				in.Checked, in.Prepared = r.Result.GetSchemaId(), r.Prepared
			}
		}
	}
	if sp := w.spill; sp != nil && !sp.off.Load() {
		c.block = appendSpillBlock(getSpillBuffer(), b.inputs, b.items)
	}
	b.inputs = nil
	putItems(b.items)
	b.items = nil
	return c, nil
}

func describeMapError(err error) string {
	var me *mapping.MapError
	if errors.As(err, &me) {
		return fmt.Sprintf("fields[%s]: %s", me.Field, me.Message)
	}
	return err.Error()
}

func describeResult(r *collectorv1.EventResult) string {
	if vs := r.GetViolations(); len(vs) > 0 {
		return fmt.Sprintf("%s (%s): %s", vs[0].GetFieldPath(), vs[0].GetRuleId(), vs[0].GetMessage())
	}
	return r.GetMessage()
}

// build makes a batch's inputs (pass 2): an event per mapped record, a
// rejected input per record that could not be read or mapped.
func (w *worker) build(b *batch) {
	w.slab = getSlab(len(b.items))
	b.slab = w.slab
	w.buildInto(b, func(int) {})
}

// buildInto is build with the batch's messages in the slab as made ready
// by ready (reset or reuse).
func (w *worker) buildInto(b *batch, ready func(n int)) {
	b.inputs = make([]Input, len(b.items))
	ready(len(b.items))
	for i, it := range b.items {
		if it.err != nil {
			b.inputs[i] = w.rejected(it.rec, false, &eventv1.Violation{RuleId: w.readRule, Message: it.err.Error()}, it.err.Error())
			continue
		}
		mp, err := w.m.Map(it.rec)
		if err != nil {
			b.inputs[i] = w.rejected(it.rec, true, mapViolation(err), describeMapError(err))
			continue
		}
		b.inputs[i] = w.event(it.rec, mp)
	}
}

func mapViolation(err error) *eventv1.Violation {
	var me *mapping.MapError
	if errors.As(err, &me) {
		return &eventv1.Violation{FieldPath: me.Field, RuleId: "mapping", Message: me.Message}
	}
	return &eventv1.Violation{RuleId: "mapping", Message: err.Error()}
}

// event is a mapped record's input.
func (w *worker) event(rec read.Record, mp mapping.Mapped) Input {
	var id string
	if w.keyed {
		id = w.ids.keyedID(w.src.GetName(), mp.Key, mp.Payload)
	} else {
		id = w.ids.recordID(w.attrs.Bucket, w.attrs.Name, w.attrs.URI, w.attrs.Generation, rec.Entry, rec.Number)
	}
	at := w.attrs.Created
	if !mp.EventTime.IsZero() {
		at = mp.EventTime
	}
	return w.input(id, mp.Payload, at.Unix(), int32(at.Nanosecond()), rec.Entry, rec.Line)
}

// input is the input of an event, its messages in the slab.
func (w *worker) input(id string, payload []byte, seconds int64, nanos int32, entry string, line int64) Input {
	ev, pl, o, t := w.slab.next()
	t.Seconds, t.Nanos = seconds, nanos
	pl.TypeUrl, pl.Value = w.typeURL, payload
	ev.EventId, ev.Payload, ev.EventTime = id, pl, t
	o.Source, o.Uri, o.Generation = w.src.GetName(), w.attrs.URI, w.attrs.Generation
	o.Entry, o.Line = entry, line
	return Input{Event: ev, Origin: o}
}

// unspill makes a spill block's inputs (pass 2): what build made of the
// same records in pass 1.
func (w *worker) unspill(b *batch) error {
	recs, err := decodeSpillBlock(b.raw, w.recs)
	if err != nil {
		return err
	}
	w.recs = recs
	b.raw = nil // the payloads still point into it
	b.inputs = make([]Input, len(recs))
	w.slab = getSlab(len(recs))
	b.slab = w.slab
	for i, r := range recs {
		if r.kind == spillEvent {
			b.inputs[i] = w.input(r.id, r.payload, r.seconds, r.nanos, r.entry, r.line)
			b.inputs[i].Checked = r.checked
			if r.prepared != spillNotPrepared {
				b.inputs[i].Prepared = w.slab.prepare(r.data, r.key)
			}
			continue
		}
		b.inputs[i] = Input{
			Event: &eventv1.Event{EventId: r.id, Payload: w.emptyPayload(), EventTime: w.created()},
			Rejection: &Rejection{
				Stage:      eventv1.Stage_STAGE_READ,
				Reason:     eventv1.Reason_REASON_MAPPING_FAILED,
				Message:    r.message,
				Violations: []*eventv1.Violation{{FieldPath: r.fieldPath, RuleId: r.ruleID, Message: r.violation}},
			},
			Origin: &eventv1.Origin{Source: w.src.GetName(), Uri: w.attrs.URI, Generation: w.attrs.Generation, Entry: r.entry, Line: r.line, Record: r.record},
		}
	}
	b.n, b.end = len(recs), recs[len(recs)-1].number+1
	return nil
}

// rejected is the input of a record that could not be read or mapped: its
// id comes from its place in the object (it has no key values), its origin
// holds its text with PII withheld. Of a record that could not be read
// (its values do not line up with the columns), nothing says which part
// is personal: with PII columns, all of it is withheld.
func (w *worker) rejected(rec read.Record, readable bool, v *eventv1.Violation, msg string) Input {
	record := withheld
	if readable || !w.pii {
		record = w.m.WithholdPII(rec)
	}
	return Input{
		Event: &eventv1.Event{
			EventId:   w.ids.recordID(w.attrs.Bucket, w.attrs.Name, w.attrs.URI, w.attrs.Generation, rec.Entry, rec.Number),
			Payload:   w.emptyPayload(),
			EventTime: w.created(),
		},
		Rejection: &Rejection{
			Stage:      eventv1.Stage_STAGE_READ,
			Reason:     eventv1.Reason_REASON_MAPPING_FAILED,
			Message:    msg,
			Violations: []*eventv1.Violation{v},
		},
		Origin: w.origin(rec, record),
	}
}

func (ld *load) origin(rec read.Record, record string) *eventv1.Origin {
	o := &eventv1.Origin{}
	ld.setOrigin(o, rec, record)
	return o
}

func (ld *load) setOrigin(o *eventv1.Origin, rec read.Record, record string) {
	o.Source, o.Uri, o.Generation = ld.src.GetName(), ld.attrs.URI, ld.attrs.Generation
	o.Entry, o.Line, o.Record = rec.Entry, rec.Line, record
}

func (ld *load) emptyPayload() *anypb.Any { return &anypb.Any{TypeUrl: ld.typeURL} }

func (ld *load) created() *timestamppb.Timestamp { return timestamppb.New(ld.attrs.Created) }

// pass2 ingests every record from the checkpoint on, advancing the
// checkpoint over the prefix Pub/Sub confirmed. It reads pass 1's spill
// when this load wrote one, else the object again.
func (ld *load) pass2(ctx context.Context) error {
	var read func(ctx context.Context, out chan<- *batch, window chan struct{}) error
	if sr := ld.spillReader(ctx); sr != nil {
		read = func(ctx context.Context, out chan<- *batch, window chan struct{}) error {
			return readSpill(ctx, sr, ld.spill.size, out, window)
		}
	} else {
		rd, err := ld.open(ctx, ld.obj, ld.src, ld.cfg.limits)
		if err != nil {
			return err
		}
		defer rd.Close()
		read = func(ctx context.Context, out chan<- *batch, window chan struct{}) error {
			return ld.readBatches(ctx, rd, ld.entry.GetCheckpoint(), out, window)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	// The window bounds the batches between the reader and the checkpoint:
	// a batch stuck in retries holds the others back once it is full.
	window := make(chan struct{}, ld.cfg.workers+2*ld.cfg.inFlight)
	batches := make(chan *batch, ld.cfg.workers)
	mapped := make(chan *batch, ld.cfg.inFlight)
	done := make(chan *batch, cap(window))
	g.Go(func() error {
		defer close(batches)
		return read(gctx, batches, window)
	})
	var mappers, senders sync.WaitGroup
	for range ld.cfg.workers {
		mappers.Add(1)
		g.Go(func() error {
			defer mappers.Done()
			w := &worker{load: ld}
			for b := range batches {
				if b.raw == nil {
					w.build(b)
					putItems(b.items)
					b.items = nil
				} else if err := w.unspill(b); err != nil {
					return err
				}
				select {
				case mapped <- b:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { mappers.Wait(); close(mapped) }()
	for range ld.cfg.inFlight {
		senders.Add(1)
		g.Go(func() error {
			defer senders.Done()
			for b := range mapped {
				res, err := settle(gctx, ld, ld.core.Ingest, b.inputs)
				if err != nil {
					return fmt.Errorf("source: ingest: %w", err)
				}
				for _, r := range res {
					if r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
						b.acc++
					} else {
						b.rej++
					}
				}
				b.firstID, b.last = res[0].GetEventId(), res[len(res)-1].GetEventId()
				b.inputs = nil
				putSlab(b.slab)
				b.slab = nil
				done <- b // never blocks: done has room for the whole window
			}
			return nil
		})
	}
	go func() { senders.Wait(); close(done) }()

	// The tracker: batches confirmed out of order wait here until the
	// prefix before them is confirmed too.
	var lost error
	pending := map[int64]*batch{}
	next, since := int64(0), int64(0)
	tick := time.NewTicker(ld.cfg.checkpointEvery)
	defer tick.Stop()
	e := ld.entry
	var written time.Time
	checkpoint := func() {
		if lost == nil {
			if lost = ld.renew(ctx); lost != nil {
				cancel()
			}
		}
		since, written = 0, time.Now()
	}
	for open := true; open; {
		select {
		case b, ok := <-done:
			if !ok {
				open = false
				break
			}
			pending[b.seq] = b
			for b := pending[next]; b != nil; b = pending[next] {
				delete(pending, next)
				next++
				<-window
				e.Checkpoint = b.end
				e.Accepted += b.acc
				e.Rejected += b.rej
				if e.GetFirstEventId() == "" {
					e.FirstEventId = b.firstID
				}
				e.LastEventId = b.last
				since += int64(b.n)
			}
			if since >= ld.cfg.checkpointN && time.Since(written) >= ld.cfg.checkpointGap {
				checkpoint()
			}
		case <-tick.C:
			checkpoint()
		}
	}
	err := g.Wait()
	switch {
	case lost != nil:
		return lost
	case err != nil:
		// Keep what was confirmed: the next loader resumes there. The
		// load's ctx may have ended, hence a detached one.
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer fcancel()
		if uerr := ld.update(fctx); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return err
	}
	return nil
}

// answer is a result of the core's Check or Ingest.
type answer interface {
	GetStatus() collectorv1.EventStatus
}

// settle sends in to call (the core's Check or Ingest) until every input
// has a final answer, ACCEPTED or REJECTED: inputs answered RETRY, and
// batches the core refused without ErrRefused, go again after a backoff,
// until ctx ends. It returns one final result per input, in order.
func settle[R answer](ctx context.Context, ld *load, call func(context.Context, []Input) ([]R, error), in []Input) ([]R, error) {
	out := make([]R, len(in))
	var pending []int // nil: all of in
	sub := in
	wait := ld.cfg.minBackoff
	for {
		res, err := call(ctx, sub)
		if err == nil && len(res) != len(sub) {
			return nil, fmt.Errorf("%w: %d results for %d inputs", ErrRefused, len(res), len(sub))
		}
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, ErrRefused):
			return nil, err
		case err != nil:
			ld.cfg.logger.WarnContext(ctx, "source: the core refused a batch; retrying", "uri", ld.attrs.URI, "err", err)
		default:
			var next []int
			for j, r := range res {
				i := j
				if pending != nil {
					i = pending[j]
				}
				switch r.GetStatus() {
				case collectorv1.EventStatus_EVENT_STATUS_ACCEPTED, collectorv1.EventStatus_EVENT_STATUS_REJECTED:
					out[i] = r
				default:
					next = append(next, i)
				}
			}
			if len(next) == 0 {
				return out, nil
			}
			pending = next
			sub = make([]Input, len(next))
			for j, i := range next {
				sub[j] = in[i]
			}
		}
		// Jitter, so loaders retrying together spread out.
		if err := sleep(ctx, wait/2+rand.N(wait/2+1)); err != nil {
			return nil, err
		}
		wait = min(2*wait, ld.cfg.maxBackoff)
	}
}

// spillReader is the spill to read pass 2 from, nil when pass 2 reads the
// object: no spill (a takeover, or spilling is off), or it was dropped.
func (ld *load) spillReader(ctx context.Context) *bufio.Reader {
	sp := ld.spill
	if sp == nil || ld.entry.GetCheckpoint() != 0 {
		return nil
	}
	r, err := sp.reader()
	if err != nil {
		ld.cfg.logger.InfoContext(ctx, "source: pass 2 reads the object again", "uri", ld.attrs.URI, "why", err)
		return nil
	}
	return r
}

// readSpill reads the spill's blocks (size bytes in all) into batches,
// taking a slot of window for each, as readBatches does.
func readSpill(ctx context.Context, r *bufio.Reader, size int64, out chan<- *batch, window chan struct{}) error {
	left := size
	for seq := int64(0); ; seq++ {
		body, n, err := readSpillBlock(r, left)
		if errors.Is(err, io.EOF) && left == 0 {
			return nil
		}
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: it ends %d bytes early", errSpillCorrupt, left)
		}
		if err != nil {
			return err
		}
		left -= n
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case out <- &batch{seq: seq, raw: body}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
