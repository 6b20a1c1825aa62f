package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

var placed = sync.OnceValues(func() (*contract.Schema, error) {
	src, err := contract.CompileDir(context.Background(), filepath.Join("..", "..", "proto"))
	if err != nil {
		return nil, err
	}
	s, err := src.Schema("shop.orders.v1.OrderPlaced")
	if err != nil {
		return nil, err
	}
	return s.WithIdentity(6, 1, contract.Usable, time.Now()), nil
})

func events(t testing.TB, n int, start time.Time, step time.Duration) []*sink.Event {
	t.Helper()
	s, err := placed()
	if err != nil {
		t.Fatal(err)
	}
	g, _ := sample.NewGenerator(1, []string{s.Subject}, 0)
	out := make([]*sink.Event, n)
	for i := range out {
		data, _ := proto.Marshal(g.Next().Message)
		m := s.NewMessage()
		_ = proto.Unmarshal(data, m)
		at := start.Add(time.Duration(i) * step)
		out[i] = &sink.Event{ID: fmt.Sprintf("e-%04d", i), Schema: s, Payload: data, Message: m, EventTime: at,
			ReceivedAt: at, PublishedAt: at.Add(time.Millisecond), Producer: "test", Attributes: map[string]string{"k": "v"}}
	}
	return out
}

func TestWriteThenReadBackByHour(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	client, err := srv.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := localgcs.EnsureBucket(ctx, client, "archive"); err != nil {
		t.Fatal(err)
	}
	a, err := archive.New(client, "archive", archive.WithWriterID("w1"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	evs := events(t, 240, start, time.Minute) // 09:30 to 13:29: five hour partitions
	s, _ := placed()
	if err := a.Write(ctx, &sink.Batch{Subject: s.Subject, Events: evs}); err != nil {
		t.Fatal(err)
	}
	// A second writer with the same id (a restart) never overwrites: its
	// object takes the next free name.
	again, _ := archive.New(client, "archive", archive.WithWriterID("w1"))
	fresh := events(t, 1, start, 0)[0]
	fresh.ID = "fresh"
	if err := again.Write(ctx, &sink.Batch{Subject: s.Subject, Events: []*sink.Event{fresh}}); err != nil {
		t.Fatal(err)
	}

	r := archive.NewReader(client, "archive", "events/")
	subjects, err := r.Subjects(ctx)
	if err != nil || fmt.Sprint(subjects) != "[shop.orders.v1.OrderPlaced]" {
		t.Fatalf("subjects %v %v", subjects, err)
	}
	var got []*archive.Record
	err = r.Events(ctx, s.Subject, start, start.Add(5*time.Hour), func(rec *archive.Record) error { got = append(got, rec); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 241 { // 240 + the restarted writer's event
		t.Fatalf("read %d records, want 241", len(got))
	}
	byID := map[string]*archive.Record{}
	for _, rec := range got {
		byID[rec.EventID] = rec
	}
	for _, e := range evs {
		rec := byID[e.ID]
		if rec == nil || !bytes.Equal(rec.Payload, e.Payload) || !rec.EventTime.Equal(e.EventTime) || rec.Attributes["k"] != "v" || rec.Schema.ID != s.ID {
			t.Fatalf("event %s did not round-trip: %+v", e.ID, rec)
		}
		// The archive's descriptors are rebuilt from its metadata, so compare
		// what the messages encode to.
		opts := proto.MarshalOptions{Deterministic: true}
		got, _ := opts.Marshal(rec.Message.Interface())
		want, _ := opts.Marshal(e.Message.Interface())
		if !bytes.Equal(got, want) {
			t.Fatalf("event %s decodes differently from the archive", e.ID)
		}
	}
	// Only the 10:00 and 11:00 partitions.
	var window int
	err = r.Events(ctx, s.Subject, start.Add(30*time.Minute), start.Add(150*time.Minute), func(*archive.Record) error { window++; return nil })
	if err != nil || window != 120 {
		t.Fatalf("10:00–12:00 holds %d events (%v), want 120", window, err)
	}

	// DuckDB reads the objects straight from the server's folder.
	w, err := duckdb.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	glob := filepath.Join(srv.Dir(), "archive", "events", "*", "*", "*", "*.parquet")
	res, err := w.Query(ctx, fmt.Sprintf(`select count(*), count(distinct _event_id), min(type), count(distinct dt || hour), min(_schema_id)
		from read_parquet('%s', hive_partitioning = true)`, glob))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows[0]); got != "[241 241 shop.orders.v1.OrderPlaced 5 6]" {
		t.Fatalf("read_parquet: %s", got)
	}
}

func BenchmarkParquetEncode(b *testing.B) {
	evs := events(b, 10_000, time.Now(), time.Millisecond)
	var size int64
	for _, e := range evs {
		size += int64(len(e.Payload))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var object int
	cpu0 := cpuTime()
	for b.Loop() {
		data, err := archive.Encode(evs)
		if err != nil {
			b.Fatal(err)
		}
		object = len(data)
	}
	b.ReportMetric(float64(object)/float64(len(evs)), "object-B/event")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*len(evs))/1000, "cpu-µs/event")
}

// cpuTime is the process's user and system CPU time: on a shared machine
// a steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Each object says its row count in its GCS metadata, so a listing can
// count rows without opening the objects.
func TestObjectsCarryTheirRowCount(t *testing.T) {
	t.Parallel()
	client := localgcstest.Client(t, "archive")
	a, err := archive.New(client, "archive", archive.WithWriterID("w1"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	s, _ := placed()
	if err := a.Write(t.Context(), &sink.Batch{Subject: s.Subject, Events: events(t, 90, start, time.Minute)}); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	it := client.Bucket("archive").Objects(t.Context(), &storage.Query{Prefix: "events/"})
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hour := strings.TrimPrefix(path.Dir(o.Name), "events/type=shop.orders.v1.OrderPlaced/dt=2026-11-22/")
		rows[hour] = o.Metadata[archive.RowsMetadata]
	}
	// 09:30–09:59 and 10:00–10:59 (30 and 60 events).
	if len(rows) != 2 || rows["hour=09"] != "30" || rows["hour=10"] != "60" {
		t.Errorf("row counts by object %v, want 30 and 60", rows)
	}
}
