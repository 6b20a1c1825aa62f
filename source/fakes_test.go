package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeObject is an object held in memory: a CSV file "sku,name,price" whose
// records are lines.
type fakeObject struct {
	attrs read.ObjectAttrs
	data  []byte
	// goneFrom, when > 0: from that open on (1-based), reads fail with
	// read.ErrObjectGone, as for an object deleted while it loads.
	goneFrom int
	mu       sync.Mutex
	opens    int
}

func (o *fakeObject) Attrs() read.ObjectAttrs { return o.attrs }

func (o *fakeObject) NewRangeReader(_ context.Context, off, length int64) (io.ReadCloser, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off == 0 {
		o.opens++
	}
	if o.goneFrom > 0 && o.opens >= o.goneFrom {
		return nil, fmt.Errorf("fake: %s: %w", o.attrs.URI, read.ErrObjectGone)
	}
	end := int64(len(o.data))
	if length >= 0 {
		end = min(end, off+length)
	}
	return io.NopCloser(bytes.NewReader(o.data[min(off, end):end])), nil
}

// newObject is a CSV object of the given records (after the header, line 1).
func newObject(name string, generation int64, lines ...string) *fakeObject {
	data := []byte("sku,name,price\n" + strings.Join(lines, "\n"))
	return newRawObject(name, generation, data)
}

func newRawObject(name string, generation int64, data []byte) *fakeObject {
	return &fakeObject{
		attrs: read.ObjectAttrs{
			URI: "gs://landing/" + name, Bucket: "landing", Name: name, Generation: generation,
			Size: int64(len(data)), Created: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC),
		},
		data: data,
	}
}

// fakeMapper maps "sku,name,price" to a StringValue "sku|name|price"; an
// empty sku cannot be mapped; the key is the sku.
type fakeMapper struct{}

func (fakeMapper) Map(rec read.Record) (mapping.Mapped, error) {
	if rec.Values[0] == "" {
		return mapping.Mapped{}, &mapping.MapError{Field: "sku", Column: "sku", Message: "column sku is empty"}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(wrapperspb.String(strings.Join(rec.Values, "|")))
	if err != nil {
		return mapping.Mapped{}, err
	}
	return mapping.Mapped{Payload: b, Key: []string{rec.Values[0]}}, nil
}

func (fakeMapper) WithholdPII(rec read.Record) string {
	if rec.Values == nil {
		return string(rec.Raw)
	}
	return rec.Values[0] + ",[PII withheld]," + rec.Values[2]
}

// fakeCore decodes payloads and rejects a price "-1" (rule int64.gte), as
// the collector would reject a contract's rule. It records what it
// published, and can answer RETRY to the first attempts of some events.
type fakeCore struct {
	mu sync.Mutex
	// retries[id] is how many more Ingests answer RETRY to id.
	retries map[string]int
	// published[id] counts confirmed publishes (ACCEPTED or REJECTED) of id.
	published map[string]int
	// inputs holds the last input published under each id.
	inputs map[string]Input
	checks int
	// onIngest, when set, runs before each Ingest (with the number of
	// events published so far).
	onIngest func(published int)
	total    int
}

func newCore() *fakeCore {
	return &fakeCore{retries: map[string]int{}, published: map[string]int{}, inputs: map[string]Input{}}
}

func (c *fakeCore) answer(in Input) *collectorv1.EventResult {
	id := in.Event.GetEventId()
	if in.Rejection != nil {
		return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_REJECTED, Reason: in.Rejection.Reason, Message: in.Rejection.Message, Violations: in.Rejection.Violations}
	}
	var v wrapperspb.StringValue
	if err := in.Event.GetPayload().UnmarshalTo(&v); err != nil {
		return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_REJECTED, Reason: eventv1.Reason_REASON_DECODE_FAILED, Message: err.Error()}
	}
	if strings.HasSuffix(v.GetValue(), "|-1") {
		return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_REJECTED, Reason: eventv1.Reason_REASON_VALIDATION_FAILED,
			Violations: []*eventv1.Violation{{FieldPath: "price", RuleId: "int64.gte", Message: "value must be greater than or equal to 0"}}}
	}
	return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_ACCEPTED}
}

func (c *fakeCore) Check(ctx context.Context, in []Input) ([]*collectorv1.EventResult, error) {
	c.mu.Lock()
	c.checks++
	c.mu.Unlock()
	out := make([]*collectorv1.EventResult, len(in))
	for i, x := range in {
		out[i] = c.answer(x)
	}
	return out, nil
}

func (c *fakeCore) Ingest(ctx context.Context, in []Input) ([]*collectorv1.EventResult, error) {
	c.mu.Lock()
	hook, n := c.onIngest, c.total
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*collectorv1.EventResult, len(in))
	for i, x := range in {
		id := x.Event.GetEventId()
		if c.retries[id] > 0 {
			c.retries[id]--
			out[i] = &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_RETRY}
			continue
		}
		out[i] = c.answer(x)
		c.published[id]++
		c.inputs[id] = x
		c.total++
	}
	return out, nil
}

// accepted and rejected are the ids published with that answer.
func (c *fakeCore) ids(status collectorv1.EventStatus) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id, in := range c.inputs {
		if c.answer(in).GetStatus() == status {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (c *fakeCore) confirmed(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.published[id] > 0
}

func (c *fakeCore) publishes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// fakeLedger keeps entries in memory with the ledger's claim rules and a
// settable clock.
type fakeLedger struct {
	mu      sync.Mutex
	entries map[string]*sourcev1.LedgerEntry
	now     time.Time
	// onUpdate, when set, sees every entry written by Update.
	onUpdate func(e *sourcev1.LedgerEntry)
	updates  []*sourcev1.LedgerEntry
}

func newLedger() *fakeLedger {
	return &fakeLedger{entries: map[string]*sourcev1.LedgerEntry{}, now: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}
}

func ledgerKey(e *sourcev1.LedgerEntry) string {
	return fmt.Sprintf("%s %s %d", e.GetSource(), e.GetUri(), e.GetGeneration())
}

func (l *fakeLedger) advance(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = l.now.Add(d)
}

func (l *fakeLedger) Claim(ctx context.Context, e *sourcev1.LedgerEntry, owner string, lease time.Duration) (*sourcev1.LedgerEntry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := ledgerKey(e)
	cur, ok := l.entries[k]
	switch {
	case !ok:
		cur = proto.Clone(e).(*sourcev1.LedgerEntry)
		cur.Status = sourcev1.Status_STATUS_LOADING
		cur.StartedAt = timestamppb.New(l.now)
	case cur.GetStatus() != sourcev1.Status_STATUS_LOADING:
		return proto.Clone(cur).(*sourcev1.LedgerEntry), false, nil
	case cur.GetLeaseUntil().AsTime().After(l.now):
		return proto.Clone(cur).(*sourcev1.LedgerEntry), false, nil
	}
	cur.Owner = owner
	cur.Attempts++
	cur.LeaseUntil = timestamppb.New(l.now.Add(lease))
	l.entries[k] = cur
	return proto.Clone(cur).(*sourcev1.LedgerEntry), true, nil
}

func (l *fakeLedger) Update(ctx context.Context, e *sourcev1.LedgerEntry, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	k := ledgerKey(e)
	cur := l.entries[k]
	if cur.GetOwner() != e.GetOwner() {
		l.mu.Unlock()
		return fmt.Errorf("%s: %w", k, ledger.ErrLost)
	}
	e.LeaseUntil = timestamppb.New(l.now.Add(lease))
	stored := proto.Clone(e).(*sourcev1.LedgerEntry)
	l.entries[k] = stored
	l.updates = append(l.updates, stored)
	hook := l.onUpdate
	l.mu.Unlock()
	if hook != nil {
		hook(stored)
	}
	return nil
}

func (l *fakeLedger) entry(source, uri string, generation int64) *sourcev1.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return proto.Clone(l.entries[ledgerKey(&sourcev1.LedgerEntry{Source: source, Uri: uri, Generation: generation})]).(*sourcev1.LedgerEntry)
}

// newTestLoader is a Loader over the fakes.
func newTestLoader(t *testing.T, core Core, l Ledger, opts ...Option) *Loader {
	t.Helper()
	opts = append([]Option{WithBatchSize(4), WithWorkers(2), WithInFlight(2), WithBackoff(time.Millisecond, 4*time.Millisecond), WithCheckpoint(30*time.Second, 1), withCheckpointGap(0)}, opts...)
	ld, err := NewLoader(core, l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

func catalogue(keyed bool) *sourcev1.Source {
	s := &sourcev1.Source{
		Name:    "catalogue",
		Subject: "google.protobuf.StringValue",
		Objects: &sourcev1.Objects{Bucket: "landing", Pattern: "catalogue/*"},
		Format:  &sourcev1.Format{Kind: &sourcev1.Format_Csv{Csv: &sourcev1.Csv{Columns: []string{"sku", "name", "price"}}}},
	}
	if keyed {
		s.Key = []string{"sku"}
	}
	return s
}

// lines returns n good records "sku-i,name i,i".
func lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("sku-%d,name %d,%d", i, i, i)
	}
	return out
}

// withCheckpointGap lets tests write a checkpoint after every batch.
func withCheckpointGap(d time.Duration) Option {
	return optionFunc(func(c *config) { c.checkpointGap = d })
}
