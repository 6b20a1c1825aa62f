package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

// fakeObject is an object held in memory: a CSV file "sku,name,price" whose
// records are lines.
type fakeObject struct {
	attrs read.ObjectAttrs
	data  []byte
	// goneFrom, when > 0: from that open on (1-based), reads fail with
	// read.ErrObjectGone, as for an object deleted while it loads.
	goneFrom int
	// failOpens: the first opens fail with this error (an outage).
	failOpens int
	failErr   error
	mu        sync.Mutex
	opens     int
}

func (o *fakeObject) Attrs() read.ObjectAttrs { return o.attrs }

func (o *fakeObject) NewRangeReader(_ context.Context, off, length int64) (io.ReadCloser, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off == 0 {
		o.opens++
	}
	if o.opens <= o.failOpens {
		return nil, o.failErr
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
	return newRawObject(name, generation, []byte("sku,name,price\n"+strings.Join(lines, "\n")))
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

// lines returns n good records "sku-i,name i,i".
func lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("sku-%d,name %d,%d", i, i, i)
	}
	return out
}

// product is testdata/product.proto's loadtest.v1.Product.
var product = sync.OnceValues(func() (protoreflect.MessageDescriptor, error) {
	b, err := os.ReadFile("testdata/product.proto")
	if err != nil {
		return nil, err
	}
	src, err := contract.CompileSources(context.Background(), map[string]string{"loadtest/v1/product.proto": string(b)})
	if err != nil {
		return nil, err
	}
	md, ok := src.Message("loadtest.v1.Product")
	if !ok {
		return nil, fmt.Errorf("no loadtest.v1.Product")
	}
	return md, nil
})

// catalogue declares a CSV source of Products, keyed by sku or not.
func catalogue(keyed bool) *sourcev1.Source {
	s := &sourcev1.Source{
		Name:    "catalogue",
		Subject: "loadtest.v1.Product",
		Objects: &sourcev1.Objects{Bucket: "landing", Pattern: "catalogue/*"},
		Format:  &sourcev1.Format{Kind: &sourcev1.Format_Csv{Csv: &sourcev1.Csv{Columns: []string{"sku", "name", "price"}}}},
		Fields:  map[string]string{"sku": "sku", "name": "name", "price": "price"},
	}
	if keyed {
		s.Key = []string{"sku"}
	}
	return s
}

func compile(tb testing.TB, src *sourcev1.Source) *mapping.Mapping {
	tb.Helper()
	md, err := product()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := mapping.Compile(src, md)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// fakeCore decodes payloads as Products and rejects a negative price (rule
// int64.gte), as the collector would reject a contract's rule. It records
// what it published, and can answer RETRY to the first attempts of some
// events.
type fakeCore struct {
	mu sync.Mutex
	// retries[id] is how many more Ingests answer RETRY to id.
	retries map[string]int
	// published[id] counts confirmed publishes (ACCEPTED or REJECTED) of id.
	published map[string]int
	// inputs holds the last input published under each id.
	inputs map[string]Input
	checks int
	total  int
	// mismatched counts inputs ingested with a Prepared that is not what
	// Check prepared of them.
	mismatched int
	// onIngest, when set, runs before each Ingest with the number of
	// events published so far.
	onIngest func(published int)
}

func newCore() *fakeCore {
	return &fakeCore{retries: map[string]int{}, published: map[string]int{}, inputs: map[string]Input{}}
}

func (c *fakeCore) answer(in Input) *collectorv1.EventResult {
	id := in.Event.GetEventId()
	if in.Rejection != nil {
		return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_REJECTED, Reason: in.Rejection.Reason, Message: in.Rejection.Message, Violations: in.Rejection.Violations}
	}
	md, _ := product()
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(in.Event.GetPayload().GetValue(), msg); err != nil || in.Event.GetPayload().GetTypeUrl() != "type.googleapis.com/loadtest.v1.Product" {
		return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_REJECTED, Reason: eventv1.Reason_REASON_DECODE_FAILED, Message: fmt.Sprint("decode: ", err)}
	}
	if msg.Get(md.Fields().ByName("price")).Int() < 0 {
		return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_REJECTED, Reason: eventv1.Reason_REASON_VALIDATION_FAILED,
			Violations: []*eventv1.Violation{{FieldPath: "price", RuleId: "int64.gte", Message: "value must be greater than or equal to 0"}}}
	}
	return &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_ACCEPTED, SchemaId: fakeSchemaID}
}

// fakeSchemaID is the schema id fakeCore accepts events with.
const fakeSchemaID = 7

// payload decodes an event's payload as text: "sku|name|price".
func payload(tb testing.TB, e *eventv1.Event) string {
	tb.Helper()
	md, _ := product()
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(e.GetPayload().GetValue(), msg); err != nil {
		tb.Fatal(err)
	}
	f := md.Fields()
	return fmt.Sprintf("%s|%s|%d", msg.Get(f.ByName("sku")).String(), msg.Get(f.ByName("name")).String(), msg.Get(f.ByName("price")).Int())
}

func (c *fakeCore) Check(ctx context.Context, in []Input) ([]CheckResult, error) {
	c.mu.Lock()
	c.checks++
	c.mu.Unlock()
	out := make([]CheckResult, len(in))
	for i, x := range in {
		out[i].Result = c.answer(x)
		if out[i].Result.GetStatus() == accepted {
			out[i].Prepared = fakePrepared(x)
		}
	}
	return out, nil
}

// fakePrepared is what fakeCore's Check prepares of an accepted input: the
// payload as is for some (as the collector does for a contract without
// PII), other bytes for the others (as where PII is hashed).
func fakePrepared(in Input) *Prepared {
	p := in.Event.GetPayload().GetValue()
	key := "key-" + in.Event.GetEventId()
	if len(p)%2 == 0 {
		return &Prepared{Data: p, EntityKey: key}
	}
	return &Prepared{Data: append([]byte("prepared:"), p...), EntityKey: key}
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
		if p := x.Prepared; p != nil {
			// The real core would publish these bytes: they must be what
			// Check prepared of this same input.
			if want := fakePrepared(x); x.Checked != fakeSchemaID || !bytes.Equal(p.Data, want.Data) || p.EntityKey != want.EntityKey {
				c.mismatched++
			}
		}
		c.published[id]++
		c.inputs[id] = keep(x)
		c.total++
	}
	return out, nil
}

// ids are the ids published with that answer, sorted.
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

func (c *fakeCore) input(id string) Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inputs[id]
}

// clock is a settable clock shared by the ledgers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testLedger is the real ledger on the in-process GCS server, with a
// settable clock; onUpdate, when set, sees every entry Update wrote.
type testLedger struct {
	*ledger.Ledger
	bucket   *storage.BucketHandle
	clock    *clock
	mu       sync.Mutex
	onUpdate func(e *sourcev1.LedgerEntry)
	updates  []*sourcev1.LedgerEntry
}

func newLedger(tb testing.TB) *testLedger {
	tb.Helper()
	c := localgcstest.Client(tb, "hem-ledger")
	l := &testLedger{bucket: c.Bucket("hem-ledger"), clock: &clock{t: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}}
	l.Ledger = ledger.New(l.bucket, "ledger/", ledger.WithClock(l.clock.Now))
	return l
}

// another is a second loader process's view of the same ledger.
func (l *testLedger) another() *testLedger {
	o := &testLedger{bucket: l.bucket, clock: l.clock}
	o.Ledger = ledger.New(l.bucket, "ledger/", ledger.WithClock(l.clock.Now))
	return o
}

func (l *testLedger) Update(ctx context.Context, e *sourcev1.LedgerEntry, lease time.Duration) error {
	if err := l.Ledger.Update(ctx, e, lease); err != nil {
		return err
	}
	stored := proto.CloneOf(e)
	l.mu.Lock()
	l.updates = append(l.updates, stored)
	hook := l.onUpdate
	l.mu.Unlock()
	if hook != nil {
		hook(stored)
	}
	return nil
}

func (l *testLedger) entry(tb testing.TB, obj *fakeObject) *sourcev1.LedgerEntry {
	tb.Helper()
	e, err := l.Get(tb.Context(), "catalogue", obj.attrs.URI, obj.attrs.Generation)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// newTestLoader is a Loader with small batches over core and l.
func newTestLoader(tb testing.TB, core Core, l Ledger, opts ...Option) *Loader {
	tb.Helper()
	opts = append([]Option{WithBatchSize(4), WithWorkers(2), WithInFlight(2), WithBackoff(time.Millisecond, 4*time.Millisecond), WithCheckpoint(30*time.Second, 1), withCheckpointGap(0)}, opts...)
	ld, err := NewLoader(core, l, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return ld
}

// withCheckpointGap lets tests write a checkpoint after every batch.
func withCheckpointGap(d time.Duration) Option {
	return optionFunc(func(c *config) { c.checkpointGap = d })
}

// keep copies what the fake keeps of an input: as the real core, which
// publishes copies, it may keep nothing of the loader's own once Ingest
// returns (pass 2 reuses the messages).
func keep(x Input) Input {
	x.Event, x.Origin = proto.CloneOf(x.Event), proto.CloneOf(x.Origin)
	if p := x.Prepared; p != nil {
		x.Prepared = &Prepared{Data: bytes.Clone(p.Data), EntityKey: p.EntityKey}
	}
	return x
}
