// Package sinktest is the conformance suite every hem sink runs: the same
// batches, written through the sink.Sink contract, must come back as the
// rows the shared mapping (contract.MapTable) says they are.
//
// A sink's test provides a Harness: the sink, a way to read a subject's
// rows back, and whether it keeps one row per event id. The suite also
// checks each optional capability the sink claims (sink.PayloadSink,
// sink.HealthReporter). Rows are compared
// in a normalized form (Row), so a warehouse, an archive and a BigQuery
// fake are held to one standard.
package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// Row is a table row in normalized form: STRING→string, INT64→int64,
// FLOAT64→float64, BOOL→bool, BYTES→[]byte, TIMESTAMP→time.Time (UTC,
// microseconds), DATE→time.Time, NUMERIC→string (decimal), JSON→compact JSON
// string, INTERVAL→string (Go duration), RECORD→Row, REPEATED→[]any (empty
// when there are none), NULL→nil, enum→value name.
type Row map[string]any

// Harness is one sink under test.
type Harness struct {
	Sink sink.Sink
	// Rows reads back every row of the subject's table, normalized.
	Rows func(ctx context.Context, subject string) ([]Row, error)
	// Migrate prepares a version before writes; nil when Write does.
	Migrate func(ctx context.Context, s *contract.Schema) error
	// Dedup is true when the sink keeps one row per _event_id (for failed
	// events, one per failure: sink.FailureKey), also across a restart.
	Dedup bool
	// Reopen closes the sink and opens a new one over the same storage,
	// as a start after kill -9 does (nothing carried over in memory), and
	// returns it; Rows reads what it wrote. Nil when the sink keeps nothing
	// between writes.
	Reopen func(t *testing.T) sink.Sink
	// DifferentPayload is true when the sink reports an event whose id it
	// holds with another payload (stored before, or earlier in the batch)
	// as sink.ErrDuplicateID, keeping the first; identical copies stay no
	// error. Sinks that cannot check cheaply (BigQuery, the archive) leave
	// it false and that subtest is skipped.
	DifferentPayload bool
}

// Run runs the suite; newHarness makes a fresh, empty sink per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	all := Schemas(t)
	placed := all["shop.orders.v1.OrderPlaced"]
	sensor := all["shop.telemetry.v1.WarehouseSensorReading"]

	t.Run("every event of a batch, with every value as the mapping says", func(t *testing.T) {
		h := newHarness(t)
		for _, s := range []*contract.Schema{placed, sensor, all["shop.members.v1.MemberRegistered"]} {
			evs := Events(t, s, 40)
			write(t, h, s, evs)
			expectRows(t, h, s.Subject, evs)
		}
	})
	t.Run("a redelivered batch", func(t *testing.T) {
		h := newHarness(t)
		evs := Events(t, placed, 30)
		write(t, h, placed, evs)
		write(t, h, placed, append(evs[:10:10], Events(t, placed, 5)[:0]...))
		wantOnePerID(t, h, placed.Subject, 30, "a redelivery")
	})
	t.Run("an event delivered again after a restart is stored once", func(t *testing.T) {
		h := newHarness(t)
		evs := Events(t, placed, 20)
		write(t, h, placed, evs)
		if h.Reopen != nil {
			h.Sink = h.Reopen(t)
		}
		// The batch came back (its ack was lost in the crash), with a
		// producer's retry of one event: the same event, a second message.
		retry := *evs[3]
		retry.ReceivedAt, retry.PublishedAt = retry.ReceivedAt.Add(5*time.Second), retry.PublishedAt.Add(5*time.Second)
		write(t, h, placed, append(evs[:10:10], &retry))
		wantOnePerID(t, h, placed.Subject, 20, "a restart and a redelivery")
		if h.Dedup { // the first copy stays
			expectRows(t, h, placed.Subject, evs)
		}
	})
	t.Run("one failure sent twice, as two messages, is stored once", func(t *testing.T) {
		h := newHarness(t)
		s := contract.FailedEventSchema()
		first := []*sink.Event{failure(t, "m1", "e-1", 5, time.Second), failure(t, "m2", "e-2", 5, time.Second)}
		write(t, h, s, first)
		if h.Reopen != nil {
			h.Sink = h.Reopen(t)
		}
		again := []*sink.Event{
			failure(t, "m1", "e-1", 5, time.Second), // redelivered
			failure(t, "m3", "e-2", 5, time.Minute), // e-2 rejected again, later
			failure(t, "m4", "e-2", 6, time.Minute), // e-2 for another reason: a failure of its own
		}
		write(t, h, s, again)
		got := rows(t, h, s.Subject)
		switch {
		case h.Dedup && len(got) != 3:
			t.Fatalf("%d rows of failures, want 3 (m1, m2, m4)", len(got))
		case !h.Dedup && len(got) < 3:
			t.Fatalf("%d rows of failures, want at least 3", len(got))
		}
		expectRows(t, h, s.Subject, append(first, again[2]))
	})
	t.Run("a different event under a known id fails; the first stays", func(t *testing.T) {
		h := newHarness(t)
		if !h.DifferentPayload {
			t.Skip("the sink does not check payloads under known ids")
		}
		stored := Events(t, placed, 10)
		write(t, h, placed, stored)
		fresh := Events(t, placed, 3)
		batch := []*sink.Event{
			stored[0], stored[1], // redelivered, identical
			Altered(t, stored[2]), Altered(t, stored[3]), // different events, stored ids
			fresh[0], fresh[1], fresh[0], // new, with an identical copy
			fresh[2], Altered(t, fresh[2]), // new, with a different one after it
		}
		if h.Migrate != nil {
			if err := h.Migrate(t.Context(), placed); err != nil {
				t.Fatal(err)
			}
		}
		err := h.Sink.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: batch})
		for i, e := range batch {
			got := sink.ErrorFor(err, i)
			different := i == 2 || i == 3 || i == 8
			switch {
			case different && (!errors.Is(got, sink.ErrDuplicateID) || !sink.IsPermanent(got)):
				t.Fatalf("event %d (%s, a different payload under a known id): error %v, want a permanent sink.ErrDuplicateID", i, e.ID, got)
			case !different && got != nil:
				t.Fatalf("event %d (%s): error %v, want none", i, e.ID, got)
			}
		}
		expectRows(t, h, placed.Subject, append(stored, fresh...))
		if got := rows(t, h, placed.Subject); len(got) != 13 {
			t.Fatalf("%d rows, want 13 (one per id)", len(got))
		}
	})
	t.Run("a new version adds a column; older rows read NULL", func(t *testing.T) {
		h := newHarness(t)
		v1, v2 := V2(t)
		old := Events(t, v1, 10)
		write(t, h, v1, old)
		newer := Events(t, v2, 10)
		note := v2.Descriptor().Fields().ByName("note")
		for _, e := range newer {
			e.Message.Set(note, protoreflect.ValueOfString("leave at the door"))
			e.Payload, _ = proto.Marshal(e.Message.Interface())
		}
		mixed := append(Events(t, v1, 5), newer...)
		for i, e := range mixed[:5] {
			e.ID = fmt.Sprintf("mixed-%d", i)
		}
		write(t, h, v2, mixed)
		expectRows(t, h, v1.Subject, append(old, mixed...))
		for _, r := range rows(t, h, v1.Subject) {
			if n := r["note"]; (r[contract.ColSchemaVersion] == int64(2)) != (n == "leave at the door") {
				t.Fatalf("row %v of version %v has note %v", r[contract.ColEventID], r[contract.ColSchemaVersion], n)
			}
		}
	})
	t.Run("failed events are a subject like any other", func(t *testing.T) {
		h := newHarness(t)
		s := contract.FailedEventSchema()
		var evs []*sink.Event
		for i := range 5 {
			m := s.NewMessage()
			f := s.Descriptor().Fields()
			m.Set(f.ByName("type"), protoreflect.ValueOfString("shop.orders.v1.OrderPlaced"))
			m.Set(f.ByName("reason"), protoreflect.ValueOfEnum(5))
			m.Set(f.ByName("original"), protoreflect.ValueOfBytes([]byte{1, 2, byte(i)}))
			payload, _ := proto.Marshal(m.Interface())
			evs = append(evs, &sink.Event{ID: fmt.Sprintf("failure-%d", i), Schema: s, Payload: payload, Message: m,
				EventTime: time.Date(2026, 11, 22, 10, 0, i, 0, time.UTC)})
		}
		write(t, h, s, evs)
		expectRows(t, h, s.Subject, evs)
	})
	t.Run("a payload-only sink writes events that carry only their payload", func(t *testing.T) {
		h := newHarness(t)
		if ps, ok := h.Sink.(sink.PayloadSink); !ok || !ps.PayloadOnly() {
			t.Skip("the sink reads Event.Message")
		}
		// The processor leaves Message nil for such a sink (sink.PayloadSink).
		for _, s := range []*contract.Schema{placed, sensor, all["shop.members.v1.MemberRegistered"]} {
			evs := Events(t, s, 20)
			bare := make([]*sink.Event, len(evs))
			for i, e := range evs {
				c := *e
				c.Message = nil
				bare[i] = &c
			}
			write(t, h, s, bare)
			expectRows(t, h, s.Subject, evs)
		}
	})
	t.Run("a health-reporting sink is healthy while its destination answers", func(t *testing.T) {
		h := newHarness(t)
		hr, ok := h.Sink.(sink.HealthReporter)
		if !ok {
			t.Skip("the sink does not report health")
		}
		if err := hr.Health(); err != nil {
			t.Fatalf("Health before any write: %v", err)
		}
		write(t, h, placed, Events(t, placed, 10))
		if err := hr.Health(); err != nil {
			t.Fatalf("Health after a write: %v", err)
		}
	})
	t.Run("an empty batch writes nothing", func(t *testing.T) {
		h := newHarness(t)
		if err := h.Sink.Write(t.Context(), &sink.Batch{Subject: placed.Subject}); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
	})
}

// failure is a FailedEvent of event id for reason, delivered as Pub/Sub
// message msgID, failed at a moment after a fixed start.
func failure(t *testing.T, msgID, id string, reason int32, after time.Duration) *sink.Event {
	t.Helper()
	s := contract.FailedEventSchema()
	m := s.NewMessage()
	f := s.Descriptor().Fields()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(after)
	m.Set(f.ByName("type"), protoreflect.ValueOfString("shop.orders.v1.OrderPlaced"))
	m.Set(f.ByName("stage"), protoreflect.ValueOfEnum(2))
	m.Set(f.ByName("reason"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(reason)))
	m.Set(f.ByName("event_id"), protoreflect.ValueOfString(id))
	m.Set(f.ByName("original"), protoreflect.ValueOfBytes([]byte("original of "+id)))
	ts := m.NewField(f.ByName("failed_at")).Message()
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(at.Unix()))
	m.Set(f.ByName("failed_at"), protoreflect.ValueOfMessage(ts))
	payload, err := proto.Marshal(m.Interface())
	if err != nil {
		t.Fatal(err)
	}
	return &sink.Event{ID: msgID, Schema: s, Payload: payload, Message: m, EventTime: at, PublishedAt: at}
}

func write(t *testing.T, h *Harness, s *contract.Schema, evs []*sink.Event) {
	t.Helper()
	if h.Migrate != nil {
		if err := h.Migrate(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Sink.Write(t.Context(), &sink.Batch{Subject: s.Subject, Events: evs}); err != nil {
		t.Fatalf("write %s: %v", s.Subject, err)
	}
}

func rows(t *testing.T, h *Harness, subject string) []Row {
	t.Helper()
	got, err := h.Rows(t.Context(), subject)
	if err != nil {
		t.Fatalf("read back %s: %v", subject, err)
	}
	return got
}

// expectRows checks that every event is a row equal to Expected (columns
// the event's version lacks must be NULL).
func expectRows(t *testing.T, h *Harness, subject string, evs []*sink.Event) {
	t.Helper()
	byID := map[string]Row{}
	for _, r := range rows(t, h, subject) {
		id, _ := r[contract.ColEventID].(string)
		byID[id] = r
	}
	for _, e := range evs {
		got, ok := byID[e.ID]
		if !ok {
			t.Fatalf("event %s of %s is missing (%d rows)", e.ID, subject, len(byID))
		}
		want := Expected(e)
		keys := map[string]bool{}
		for k := range want {
			keys[k] = true
		}
		for k := range got {
			keys[k] = true
		}
		for k := range keys {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Fatalf("event %s, column %s: got %#v, want %#v", e.ID, k, got[k], want[k])
			}
		}
	}
}

// Expected is the row the mapping says an event becomes, normalized.
func Expected(e *sink.Event) Row {
	t, err := contract.MapTable(e.Schema.Descriptor())
	if err != nil {
		panic(fmt.Sprintf("sinktest: %s has no mapping: %v", e.Schema.Subject, err))
	}
	r := Row{
		contract.ColEventID:       e.ID,
		contract.ColEventTime:     Time(e.EventTime),
		contract.ColReceivedAt:    nilTime(e.ReceivedAt),
		contract.ColPublishedAt:   nilTime(e.PublishedAt),
		contract.ColSchemaID:      e.Schema.ID,
		contract.ColSchemaVersion: int64(e.Schema.Version),
		contract.ColProducer:      nil,
		contract.ColAttributes:    nil,
	}
	if e.Producer != "" {
		r[contract.ColProducer] = e.Producer
	}
	if len(e.Attributes) > 0 {
		b, _ := json.Marshal(e.Attributes)
		r[contract.ColAttributes] = string(b)
	}
	for _, c := range t.Columns {
		if c.Field != nil {
			r[c.Name] = fieldValue(c, e.Message)
		}
	}
	return r
}

// Time normalizes a timestamp: UTC, microseconds.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nilTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return Time(t)
}

func fieldValue(c contract.Column, m protoreflect.Message) any {
	fd := m.Descriptor().Fields().ByNumber(c.Field.Number())
	if fd == nil || fd.Name() != c.Field.Name() {
		return nil
	}
	if c.Mode == contract.Repeated {
		out := []any{}
		if fd.IsMap() {
			var entries []any
			m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				entries = append(entries, Row{"key": value(c.Fields[0], fd.MapKey(), k.Value()), "value": value(c.Fields[1], fd.MapValue(), v)})
				return true
			})
			sort.Slice(entries, func(i, j int) bool { return fmt.Sprint(entries[i].(Row)["key"]) < fmt.Sprint(entries[j].(Row)["key"]) })
			return append(out, entries...)
		}
		l := m.Get(fd).List()
		for i := range l.Len() {
			out = append(out, value(c, fd, l.Get(i)))
		}
		return out
	}
	if fd.HasPresence() && !m.Has(fd) {
		return nil
	}
	return value(c, fd, m.Get(fd))
}

func value(c contract.Column, fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch c.Type {
	case contract.Record:
		r := Row{}
		for _, f := range c.Fields {
			r[f.Name] = fieldValue(f, v.Message())
		}
		return r
	case contract.Timestamp:
		m := v.Message()
		f := m.Descriptor().Fields()
		return Time(time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()))
	case contract.Interval:
		m := v.Message()
		f := m.Descriptor().Fields()
		return (time.Duration(m.Get(f.ByName("seconds")).Int())*time.Second + time.Duration(m.Get(f.ByName("nanos")).Int())).Truncate(time.Microsecond).String()
	case contract.Date:
		m := v.Message()
		f := m.Descriptor().Fields()
		return time.Date(int(m.Get(f.ByName("year")).Int()), time.Month(m.Get(f.ByName("month")).Int()), int(m.Get(f.ByName("day")).Int()), 0, 0, 0, 0, time.UTC)
	case contract.JSON:
		b, _ := protojson.Marshal(v.Message().Interface())
		return CompactJSON(string(b))
	}
	kind := fd.Kind()
	if kind == protoreflect.MessageKind && contract.IsWrapper(fd.Message()) {
		inner := v.Message().Descriptor().Fields().ByName("value")
		v, kind = v.Message().Get(inner), inner.Kind()
	}
	switch kind {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(v.Uint())
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return new(big.Int).SetUint64(v.Uint()).String()
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return append([]byte{}, v.Bytes()...)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return fmt.Sprint(int32(v.Enum()))
	}
	return nil
}

// CompactJSON re-encodes JSON text compactly with sorted keys, so JSON
// columns compare whatever their spacing and key order.
func CompactJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	schemasOnce sync.Once
	schemas     map[string]*contract.Schema
	schemasErr  error
)

// Root is the repository root (the folder with go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("sinktest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Schemas are the sample contracts, version 1, ids 1..n in subject order.
func Schemas(t testing.TB) map[string]*contract.Schema {
	t.Helper()
	schemasOnce.Do(func() {
		src, err := contract.CompileDir(context.Background(), filepath.Join(Root(t), "proto"))
		if err != nil {
			schemasErr = err
			return
		}
		all, err := src.Schemas()
		if err != nil {
			schemasErr = err
			return
		}
		schemas = map[string]*contract.Schema{}
		for i, s := range all {
			schemas[s.Subject] = s.WithIdentity(int64(i+1), 1, contract.Usable, time.Now())
		}
	})
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	return schemas
}

// V2 returns OrderPlaced and a version 2 of it with `optional string note = 15;`.
func V2(t testing.TB) (v1, v2 *contract.Schema) {
	t.Helper()
	v1 = Schemas(t)["shop.orders.v1.OrderPlaced"]
	root := Root(t)
	raw, err := os.ReadFile(filepath.Join(root, "proto", "shop", "orders", "v1", "events.proto"))
	if err != nil {
		t.Fatal(err)
	}
	common, err := os.ReadFile(filepath.Join(root, "proto", "shop", "common", "v1", "common.proto"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(raw), "  string gift_message = 14", "  // A note for the driver.\n  optional string note = 15;\n  string gift_message = 14", 1)
	compiled, err := contract.CompileSources(context.Background(), map[string]string{
		"shop/orders/v1/events.proto": src, "shop/common/v1/common.proto": string(common)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := compiled.Schema(v1.Subject)
	if err != nil {
		t.Fatal(err)
	}
	return v1, s.WithIdentity(1000, 2, contract.Usable, time.Now())
}

var seq struct {
	sync.Mutex
	n int
}

// Altered is a copy of e, same id, with a different payload: its first
// string field (or, failing that, its first integer field) changed.
func Altered(t testing.TB, e *sink.Event) *sink.Event {
	t.Helper()
	m := e.Message.Interface()
	m = proto.Clone(m)
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	changed := false
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() || fd.IsMap() || fd.ContainingOneof() != nil {
			continue
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			r.Set(fd, protoreflect.ValueOfString(r.Get(fd).String()+" (another event)"))
		case protoreflect.Int64Kind:
			r.Set(fd, protoreflect.ValueOfInt64(r.Get(fd).Int()+1))
		default:
			continue
		}
		changed = true
		break
	}
	if !changed {
		t.Fatalf("sinktest: no field of %s to alter", r.Descriptor().FullName())
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := *e
	out.Message, out.Payload = r, payload
	return &out
}

// Events makes n realistic events of s, decoded with s as the processor
// does, with unique ids.
func Events(t testing.TB, s *contract.Schema, n int) []*sink.Event {
	t.Helper()
	g, err := sample.NewGenerator(uint64(n), []string{s.Subject}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*sink.Event, n)
	for i := range out {
		ev := g.Next()
		data, _ := proto.Marshal(ev.Message)
		m := s.NewMessage()
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatal(err)
		}
		seq.Lock()
		seq.n++
		n := seq.n
		seq.Unlock()
		id := fmt.Sprintf("ev-%06d", n)
		at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond)
		out[i] = &sink.Event{ID: id, Schema: s, Payload: data, Message: m, EventTime: at, ReceivedAt: at,
			PublishedAt: at.Add(time.Millisecond), Producer: "sinktest", Attributes: map[string]string{"region": "nl"}}
	}
	return out
}

// wantOnePerID checks the rows of subject after what happened: exactly n
// (one per event id) in a sink that keeps one row per id, at least n in
// one that is at-least-once.
func wantOnePerID(t *testing.T, h *Harness, subject string, n int, what string) {
	t.Helper()
	got := rows(t, h, subject)
	switch {
	case h.Dedup && len(got) != n:
		t.Fatalf("%d rows after %s, want %d (one per event id)", len(got), what, n)
	case !h.Dedup && len(got) < n:
		t.Fatalf("%d rows after %s, want at least %d", len(got), what, n)
	}
}
