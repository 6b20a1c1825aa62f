package bigquery_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
	"github.com/hemlabs/hem/sink/sinktest"
)

// clock is a settable clock shared by the fake and the sink.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// A schema push adds a column; BigQuery's Write API sees it only minutes
// later. Meanwhile version 1 rows keep flowing, version 2 rows are retried
// (not lost, not failed for good), and once the column is visible they land.
func TestNewColumnPropagates(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	s, srv := newSink(t, bigquery.Config{Now: clk.Now, SchemaRetryInterval: time.Minute},
		bigquerytest.WithSchemaPropagationDelay(5*time.Minute), bigquerytest.WithClock(clk.Now))
	ctx := t.Context()
	v1, v2 := sinktest.V2(t)
	if err := s.Migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Minute) // the new table is visible to the Write API
	if err := s.Write(ctx, &sink.Batch{Subject: v1.Subject, Events: sinktest.Events(t, v1, 3)}); err != nil {
		t.Fatalf("version 1 before the push: %v", err)
	}
	if err := s.Migrate(ctx, v2); err != nil {
		t.Fatal(err)
	}
	older, newer := sinktest.Events(t, v1, 4), notedEvents(t, 4)
	batch := &sink.Batch{Subject: v1.Subject, Events: append(append([]*sink.Event{}, older...), newer...)}

	err := s.Write(ctx, batch)
	for i, e := range batch.Events {
		ferr := sink.ErrorFor(err, i)
		switch {
		case e.Schema.Version == 1 && ferr != nil:
			t.Fatalf("version 1 event %s failed while the column propagates: %v", e.ID, ferr)
		case e.Schema.Version == 2 && ferr == nil:
			t.Fatalf("version 2 event %s written before BigQuery accepts its column", e.ID)
		case e.Schema.Version == 2 && sink.IsPermanent(ferr):
			t.Fatalf("version 2 event %s failed for good: %v", e.ID, ferr)
		}
	}
	if got := rowCount(t, srv, v1.Subject); got != 7 {
		t.Fatalf("%d rows while the column propagates, want 7", got)
	}

	// Within the retry interval the sink does not even ask.
	if err := s.Write(ctx, &sink.Batch{Subject: v1.Subject, Events: newer}); err == nil {
		t.Fatal("version 2 written within the retry interval")
	}
	clk.Add(6 * time.Minute)
	if err := s.Write(ctx, &sink.Batch{Subject: v1.Subject, Events: newer}); err != nil {
		t.Fatalf("version 2 after the column propagated: %v", err)
	}
	rows, err := tableRows(t, srv, v1.Subject)
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, r := range rows {
		if r["note"] == "leave at the door" {
			notes++
		} else if r["note"] != nil {
			t.Fatalf("row %v: note %v", r[contract.ColEventID], r["note"])
		}
	}
	if len(rows) != 11 || notes != 4 {
		t.Fatalf("%d rows, %d with a note; want 11 and 4", len(rows), notes)
	}
}

// notedEvents are version 2 OrderPlaced events with the new note set.
func notedEvents(t *testing.T, n int) []*sink.Event {
	t.Helper()
	_, s := sinktest.V2(t)
	evs := sinktest.Events(t, s, n)
	note := s.Descriptor().Fields().ByName("note")
	for _, e := range evs {
		e.Message.Set(note, protoreflect.ValueOfString("leave at the door"))
		e.Payload, _ = proto.Marshal(e.Message.Interface())
	}
	return evs
}

func rowCount(t *testing.T, srv *bigquerytest.Server, subject string) int {
	t.Helper()
	rows, err := tableRows(t, srv, subject)
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// Big batches are split into requests under the limit; a row that alone
// exceeds it fails for good, without taking the batch with it.
func TestRequestsStayUnderTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	s, srv := newSink(t, bigquery.Config{MaxRequestBytes: limit}, bigquerytest.WithMaxRequestBytes(limit))
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	evs := sinktest.Events(t, placed, 1500) // ~0.5 MB of rows
	huge := sinktest.Events(t, placed, 1)[0]
	gift := placed.Descriptor().Fields().ByName("gift_message")
	huge.Message.Set(gift, protoreflect.ValueOfString(strings.Repeat("x", limit)))
	huge.Payload, _ = proto.Marshal(huge.Message.Interface())
	evs = append(evs, huge)

	err := s.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: evs})
	var be *sink.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || !sink.IsPermanent(be.Failed[len(evs)-1]) {
		t.Fatalf("want only the oversized event failed for good, got %v", err)
	}
	if got := rowCount(t, srv, placed.Subject); got != 1500 {
		t.Fatalf("%d rows, want 1500", got)
	}
}

// A payload that does not decode fails alone, for good.
func TestCorruptEventFailsAlone(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	evs := sinktest.Events(t, placed, 5)
	evs[2].Payload = []byte{0x0a, 0xff}
	err := s.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: evs})
	for i := range evs {
		ferr := sink.ErrorFor(err, i)
		if (i == 2) != (ferr != nil) || i == 2 && !sink.IsPermanent(ferr) {
			t.Fatalf("event %d: %v", i, ferr)
		}
	}
	if got := rowCount(t, srv, placed.Subject); got != 4 {
		t.Fatalf("%d rows, want 4", got)
	}
}

// Migrations from many processes at once all succeed: the table ends with
// every column, and a dedup view reads it.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	srv, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	v1, v2 := sinktest.V2(t)
	var sinks []*bigquery.Sink
	for range 4 {
		s, err := bigquery.New(t.Context(), bigquery.Config{Project: project, Dataset: dataset,
			Endpoint: srv.RESTEndpoint(), WriteEndpoint: srv.WriteEndpoint()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		sinks = append(sinks, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(sinks))
	for _, s := range sinks {
		wg.Go(func() { errs <- s.Migrate(t.Context(), v1) })
		wg.Go(func() { errs <- s.Migrate(t.Context(), v2) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	client, err := bq.NewClient(t.Context(), project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	table, _ := contract.MapTable(v2.Descriptor())
	meta, err := client.Dataset(dataset).Table(table.Name).Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Schema) != len(table.Columns) {
		t.Fatalf("%d columns, want %d", len(meta.Schema), len(table.Columns))
	}
	if meta.TimePartitioning == nil || meta.TimePartitioning.Field != table.PartitionColumn {
		t.Fatalf("partitioning %+v, want by %s", meta.TimePartitioning, table.PartitionColumn)
	}
	view, err := client.Dataset(dataset).Table(bigquery.DedupView(table.Name)).Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(view.ViewQuery, "PARTITION BY "+table.PartitionColumn+", _event_id") || !strings.Contains(view.ViewQuery, table.Name) {
		t.Fatalf("dedup view query: %s", view.ViewQuery)
	}
}

// Each Write may come with its own context (the processor's per batch);
// ending one must not break the streams later writes use.
func TestWritesOutliveTheirContexts(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		err := s.Write(ctx, &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, 5)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := rowCount(t, srv, placed.Subject); got != 15 {
		t.Fatalf("%d rows, want 15", got)
	}
}

// The sink reads payload bytes only (sink.PayloadSink): events the
// processor did not decode are written like any other.
func TestWritesUndecodedEvents(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	if !s.PayloadOnly() {
		t.Fatal("the BigQuery sink should take undecoded payloads")
	}
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	evs := sinktest.Events(t, placed, 5)
	want := make([]sinktest.Row, len(evs))
	for i, e := range evs {
		want[i] = sinktest.Expected(e)
		e.Message = nil
	}
	if err := s.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: evs}); err != nil {
		t.Fatal(err)
	}
	got, err := tableRows(t, srv, placed.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		for col, v := range want[i] { // got also has version 2's note, NULL
			if !reflect.DeepEqual(got[i][col], v) {
				t.Fatalf("row %d, column %s: got %#v, want %#v", i, col, got[i][col], v)
			}
		}
	}
}
