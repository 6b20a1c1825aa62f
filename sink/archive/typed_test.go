package archive_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"
	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
)

// lake is a GCS server whose folder DuckDB reads, with an archive bucket.
type lake struct {
	srv    *localgcs.Server
	client *storage.Client
}

func newLake(t *testing.T) *lake {
	t.Helper()
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	client, err := srv.NewClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := localgcs.EnsureBucket(t.Context(), client, "archive"); err != nil {
		t.Fatal(err)
	}
	return &lake{srv: srv, client: client}
}

func (l *lake) write(t *testing.T, subject string, events []*sink.Event) {
	t.Helper()
	a, err := archive.New(l.client, "archive")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(t.Context(), &sink.Batch{Subject: subject, Events: events}); err != nil {
		t.Fatal(err)
	}
}

// query runs SQL in a fresh DuckDB over the archive's objects: {{glob}}
// is the events/ objects of every type, day and hour.
func (l *lake) query(t *testing.T, query string) [][]string {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	glob := filepath.Join(l.srv.Dir(), "archive", "events", "*", "*", "*", "*.parquet")
	rows, err := db.QueryContext(t.Context(), strings.ReplaceAll(query, "{{glob}}", glob))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The acceptance test: DuckDB reads the contract's fields straight from
// the objects the sink wrote, with the warehouse's types (records, lists,
// enum names, timestamps, wrappers, maps).
func TestDuckDBReadsTypedFields(t *testing.T) {
	t.Parallel()
	l := newLake(t)
	s, _ := placed()
	start := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	evs := events(t, 40, start, time.Minute) // two hour partitions
	l.write(t, s.Subject, evs)

	got := l.query(t, `SELECT _event_id, order_id, channel, total.amount_micros, total.currency_code,
			strftime(placed_at, '%Y-%m-%dT%H:%M:%S.%f'), len(items), items[1].sku, items[1].unit_price.amount_micros,
			points_redeemed, len(labels), coupon_code, type, dt::VARCHAR, hour
		FROM read_parquet('{{glob}}', hive_partitioning = true) ORDER BY _event_id`)
	if len(got) != len(evs) {
		t.Fatalf("read %d rows, want %d", len(got), len(evs))
	}
	for i, e := range evs {
		var o ordersv1.OrderPlaced
		if err := proto.Unmarshal(e.Payload, &o); err != nil {
			t.Fatal(err)
		}
		points := "NULL"
		if o.PointsRedeemed != nil {
			points = strconv.Itoa(int(o.GetPointsRedeemed().GetValue()))
		}
		coupon := "NULL"
		if o.CouponCode != nil {
			coupon = o.GetCouponCode()
		}
		want := []string{e.ID, o.GetOrderId(), o.GetChannel().String(), strconv.FormatInt(o.GetTotal().GetAmountMicros(), 10),
			o.GetTotal().GetCurrencyCode(), o.GetPlacedAt().AsTime().UTC().Format("2006-01-02T15:04:05.000000"),
			strconv.Itoa(len(o.GetItems())), o.GetItems()[0].GetSku(), strconv.FormatInt(o.GetItems()[0].GetUnitPrice().GetAmountMicros(), 10),
			points, strconv.Itoa(len(o.GetLabels())), coupon,
			s.Subject, e.EventTime.Format("2006-01-02"), fmt.Sprintf("%02d", e.EventTime.Hour())}
		if fmt.Sprint(got[i]) != fmt.Sprint(want) {
			t.Fatalf("row %d:\n got %v\nwant %v", i, got[i], want)
		}
	}
	// The map's entries are key/value records, as in the warehouse.
	for _, e := range evs {
		var o ordersv1.OrderPlaced
		_ = proto.Unmarshal(e.Payload, &o)
		for k, v := range o.GetLabels() {
			got := l.query(t, fmt.Sprintf(`SELECT list_filter(labels, x -> x.key = '%s')[1].value
				FROM read_parquet('{{glob}}') WHERE _event_id = '%s'`, k, e.ID))
			if got[0][0] != v {
				t.Fatalf("labels[%s] of %s: %s, want %s", k, e.ID, got[0][0], v)
			}
			return
		}
	}
}

// mixedSchemas compiles two versions of one contract: v2 adds a top-level
// field, a field of a nested message and maps. Fields named like the
// archive's own columns (payload, type) have no typed column, nor do
// messages without fields (Parquet has no empty group).
func mixedSchemas(t *testing.T) (v1, v2 *contract.Schema) {
	t.Helper()
	const head = `syntax = "proto3";
package lk.v1;
import "hem/options/v1/options.proto";
import "google/protobuf/timestamp.proto";
`
	compile := func(src string, id int64, version int) *contract.Schema {
		c, err := contract.CompileSources(context.Background(), map[string]string{"lk/v1/e.proto": head + src})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Schema("lk.v1.E")
		if err != nil {
			t.Fatal(err)
		}
		return s.WithIdentity(id, version, contract.Usable, time.Time{})
	}
	v1 = compile(`
message Item { string sku = 1; }
message Nothing {}
message E {
  option (hem.options.v1.event) = {};
  string id = 1;
  repeated Item items = 2;
  string payload = 3;
  string type = 4;
  google.protobuf.Timestamp at = 5;
  Nothing nothing = 8;
}`, 21, 1)
	v2 = compile(`
message Item { string sku = 1; int64 n = 2; }
message Nothing {}
message E {
  option (hem.options.v1.event) = {};
  string id = 1;
  repeated Item items = 2;
  string payload = 3;
  string type = 4;
  google.protobuf.Timestamp at = 5;
  int64 qty = 6;
  map<string, int64> counts = 7;
  Nothing nothing = 8;
  map<string, Nothing> nothings = 9;
}`, 22, 2)
	return v1, v2
}

func mixedEvent(t *testing.T, s *contract.Schema, id, json string, at time.Time) *sink.Event {
	t.Helper()
	m := s.NewMessage()
	if err := protojson.Unmarshal([]byte(json), m); err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &sink.Event{ID: id, Schema: s, Payload: data, Message: m, EventTime: at, ReceivedAt: at, PublishedAt: at, Producer: "p"}
}

// One object holds both versions' events with the newest version's
// columns: the older rows' new fields are NULL, as in the warehouse.
func TestMixedVersionsInOneObject(t *testing.T) {
	t.Parallel()
	l := newLake(t)
	v1, v2 := mixedSchemas(t)
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	evs := []*sink.Event{
		mixedEvent(t, v1, "a", `{"id":"one","items":[{"sku":"x"}],"payload":"p1","type":"t1","at":"2026-12-01T08:00:00.5Z"}`, at),
		mixedEvent(t, v2, "b", `{"id":"two","items":[{"sku":"y","n":2},{"sku":"z","n":3}],"payload":"p2","type":"t2","qty":5,"counts":{"k":7}}`, at),
		mixedEvent(t, v1, "c", `{"id":"three"}`, at),
	}
	l.write(t, v2.Subject, evs)

	got := l.query(t, `SELECT _event_id, _schema_version, id, qty, to_json(items)::VARCHAR, to_json(counts)::VARCHAR, strftime("at", '%Y-%m-%dT%H:%M:%S.%g'), type
		FROM read_parquet('{{glob}}', hive_partitioning = true) ORDER BY _event_id`)
	want := [][]string{
		{"a", "1", "one", "NULL", `[{"sku":"x","n":null}]`, `[]`, "2026-12-01T08:00:00.500", "lk.v1.E"},
		{"b", "2", "two", "5", `[{"sku":"y","n":2},{"sku":"z","n":3}]`, `[{"key":"k","value":7}]`, "NULL", "lk.v1.E"},
		{"c", "1", "three", "NULL", `[]`, `[]`, "NULL", "lk.v1.E"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows\n got %v\nwant %v", got, want)
	}
	// The object names the version of its columns and the fields without
	// one; payload is the raw payload, whatever a contract calls a field.
	meta := l.query(t, `SELECT decode(key), decode(value) FROM parquet_kv_metadata('{{glob}}')
		WHERE decode(key) IN ('hem.columns', 'hem.untyped') ORDER BY 1`)
	if fmt.Sprint(meta) != "[[hem.columns 22] [hem.untyped payload,type]]" {
		t.Errorf("metadata %v", meta)
	}
	raw := l.query(t, `SELECT hex(payload) FROM read_parquet('{{glob}}') ORDER BY _event_id`)
	for i, e := range evs {
		if raw[i][0] != strings.ToUpper(fmt.Sprintf("%x", e.Payload)) {
			t.Errorf("payload of %s is not the event's bytes", e.ID)
		}
	}

	// The Reader gives each event with its own version.
	r := archive.NewReader(l.client, "archive", "events/")
	var versions []string
	err := r.Events(t.Context(), v2.Subject, at, at.Add(time.Hour), func(rec *archive.Record) error {
		versions = append(versions, fmt.Sprintf("%s:%d", rec.EventID, rec.Schema.Version))
		return nil
	})
	if err != nil || fmt.Sprint(versions) != "[a:1 b:2 c:1]" {
		t.Errorf("reader: %v %v", versions, err)
	}
}

// oldRecord is an archive row as written before the typed columns.
type oldRecord struct {
	EventID       string     `parquet:"_event_id"`
	EventTime     time.Time  `parquet:"_event_time,timestamp(microsecond)"`
	ReceivedAt    *time.Time `parquet:"_received_at,timestamp(microsecond),optional"`
	PublishedAt   *time.Time `parquet:"_published_at,timestamp(microsecond),optional"`
	SchemaID      int64      `parquet:"_schema_id"`
	SchemaVersion int32      `parquet:"_schema_version"`
	Producer      string     `parquet:"_producer"`
	Attributes    string     `parquet:"_attributes,json"`
	Payload       []byte     `parquet:"payload"`
}

// Objects written before the typed columns stay readable beside new ones:
// by the Reader (replay, restore), by the sink's dedup window, and by
// DuckDB, whose union_by_name gives their typed columns as NULL.
func TestOldObjectsStayReadable(t *testing.T) {
	t.Parallel()
	l := newLake(t)
	s, _ := placed()
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	old := events(t, 20, start, time.Minute)
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[oldRecord](&buf,
		parquet.KeyValueMetadata("hem.schema.6", base64.StdEncoding.EncodeToString(s.DescriptorSet())),
		parquet.KeyValueMetadata("hem.subject.6", s.Subject), parquet.KeyValueMetadata("hem.version.6", "1"))
	for _, e := range old {
		at := e.EventTime.UTC()
		if _, err := w.Write([]oldRecord{{EventID: e.ID, EventTime: at, ReceivedAt: &at, PublishedAt: &at, SchemaID: s.ID,
			SchemaVersion: 1, Producer: e.Producer, Attributes: `{"k":"v"}`, Payload: e.Payload}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ow := l.client.Bucket("archive").Object(archive.ObjectPath("events/", s.Subject, start) + "old-000001.parquet").NewWriter(t.Context())
	if _, err := ow.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := ow.Close(); err != nil {
		t.Fatal(err)
	}

	// A new writer in the same hour: the last 5 old events come again
	// (a redelivery) and are skipped, because the window reads the old
	// object's ids.
	fresh := events(t, 35, start.Add(5*time.Minute), time.Minute)
	for i, e := range fresh {
		if i >= 15 {
			e.ID = fmt.Sprintf("n-%04d", i)
		}
	}
	l.write(t, s.Subject, fresh)

	r := archive.NewReader(l.client, "archive", "events/")
	seen := map[string]int{}
	err := r.Events(t.Context(), s.Subject, start, start.Add(time.Hour), func(rec *archive.Record) error {
		seen[rec.EventID]++
		var o ordersv1.OrderPlaced
		if err := proto.Unmarshal(rec.Payload, &o); err != nil || o.GetOrderId() == "" || rec.Attributes["k"] != "v" {
			return fmt.Errorf("event %s did not read back: %v", rec.EventID, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 40 {
		t.Fatalf("read %d events, want 20 old and 20 new", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s archived %d times", id, n)
		}
	}
	got := l.query(t, `SELECT count(*), count(order_id), count(DISTINCT _event_id)
		FROM read_parquet('{{glob}}', hive_partitioning = true, union_by_name = true)`)
	if fmt.Sprint(got) != "[[40 20 40]]" {
		t.Errorf("DuckDB over old and new objects: %v, want 40 rows of which 20 typed", got)
	}
}

// The archive holds the payload as published, PII handling applied by the
// collector, so its typed columns hold the same hashed, redacted or
// dropped values: no clear value reaches a column.
func TestTypedColumnsCarryHandledPII(t *testing.T) {
	t.Parallel()
	l := newLake(t)
	src, err := contract.CompileDir(t.Context(), filepath.Join("..", "..", "proto"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("shop.members.v1.MemberRegistered")
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(9, 1, contract.Usable, time.Time{})
	clear := s.NewMessage()
	const in = `{"memberId":"m-1","email":"ann@example.com","phone":"+31612345678","fullName":"Ann Example",
		"address":{"line1":"Secret Street 1","postalCode":"1011AB","city":"Amsterdam","countryCode":"NL"},
		"tier":"TIER_SILVER","registeredAt":"2026-12-01T08:00:00Z"}`
	if err := protojson.Unmarshal([]byte(in), clear); err != nil {
		t.Fatal(err)
	}
	c, hasPII := codec.Compile(s.Descriptor())
	if !hasPII {
		t.Fatal("the sample contract lost its PII fields")
	}
	enc := codec.Encoder{Hasher: codec.NewHasher([]byte("salt"))}
	published := enc.Encode(nil, clear, c)
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	l.write(t, s.Subject, []*sink.Event{{ID: "e", Schema: s, Payload: published, EventTime: at}})

	got := l.query(t, `SELECT member_id, length(email), full_name, address IS NULL, to_json(t)::VARCHAR
		FROM read_parquet('{{glob}}') AS t`)
	row := got[0]
	if row[0] != "m-1" || row[1] != "64" || row[2] != "REDACTED" || row[3] != "true" {
		t.Errorf("handled fields read %v, want the member id, a 64-digit hash, REDACTED and no address", row[:4])
	}
	for _, secret := range []string{"ann@example.com", "31612345678", "Ann Example", "Secret Street", "Amsterdam"} {
		if strings.Contains(row[4], secret) {
			t.Errorf("the archived row holds %q in clear: %s", secret, row[4])
		}
	}
}

// The mapped types Parquet spells its own way read back whole: a uint64 as
// DECIMAL(20,0), a Duration as INT64 microseconds, a Struct as JSON, an
// enum number the descriptor does not know as its decimal.
func TestTypesParquetSpellsItsOwnWay(t *testing.T) {
	t.Parallel()
	l := newLake(t)
	c, err := contract.CompileSources(t.Context(), map[string]string{"wk/v1/e.proto": `syntax = "proto3";
package wk.v1;
import "hem/options/v1/options.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; }
message E {
  option (hem.options.v1.event) = {};
  uint64 big = 1;
  google.protobuf.Duration took = 2;
  google.protobuf.Struct extra = 3;
  google.protobuf.UInt64Value maybe = 4;
  repeated Kind kinds = 5;
  bytes raw = 6;
  double ratio = 7;
  fixed32 small = 8;
}`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Schema("wk.v1.E")
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(31, 1, contract.Usable, time.Time{})
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e := mixedEvent(t, s, "a", `{"big":"18446744073709551615","took":"1.5s","extra":{"a":1},"maybe":"7",
		"kinds":["KIND_A",9],"raw":"AQI=","ratio":0.25,"small":4294967295}`, at)
	l.write(t, s.Subject, []*sink.Event{e})
	got := l.query(t, `SELECT big::VARCHAR, took, extra::VARCHAR, maybe::VARCHAR, kinds::VARCHAR, hex(raw), ratio, small
		FROM read_parquet('{{glob}}')`)
	want := "[[18446744073709551615 1500000 {\"a\":1} 7 [KIND_A, 9] 0102 0.25 4294967295]]"
	if fmt.Sprint(got) != want {
		t.Errorf("read %v\nwant %s", got, want)
	}
}
