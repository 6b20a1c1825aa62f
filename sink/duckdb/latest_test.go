package duckdb_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/contract"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// product is a ProductCreated of sku at price (micros), as the processor
// hands it to a sink.
func product(t *testing.T, s *contract.Schema, id, sku string, price int64, eventTime, receivedAt time.Time) *sink.Event {
	t.Helper()
	data, err := proto.Marshal(&productsv1.ProductCreated{Sku: sku, Name: "Oat milk 1L", Category: productsv1.Category_CATEGORY_DAIRY,
		Price: &commonv1.Money{CurrencyCode: "EUR", AmountMicros: price}, CreatedAt: timestamppb.New(eventTime)})
	if err != nil {
		t.Fatal(err)
	}
	m := s.NewMessage()
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return &sink.Event{ID: id, Schema: s, Payload: data, Message: m, EventTime: eventTime, ReceivedAt: receivedAt,
		PublishedAt: receivedAt, Producer: "source:catalogue"}
}

// TestLatestViewShowsTheCorrection: a table whose contract has an entity
// key gets <table>_latest, one row per key: after a corrected re-export
// (newer events of the same keys) it shows the corrected rows; events of
// one time are told apart by _received_at, then by _event_id.
func TestLatestViewShowsTheCorrection(t *testing.T) {
	t.Parallel()
	s := contracts(t)["shop.products.v1.ProductCreated"]
	w := open(t)
	day1 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	write := func(evs ...*sink.Event) {
		t.Helper()
		if err := w.Write(t.Context(), &sink.Batch{Subject: s.Subject, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	write(
		product(t, s, "a1", "SKU-A", 1_000_000, day1, day1),
		product(t, s, "b1", "SKU-B", 2_000_000, day1, day1),
		product(t, s, "c1", "SKU-C", 3_000_000, day1, day1),
	)
	// The corrected export of the next day: A and B again, B twice in the
	// same second (the later receipt wins), C not at all.
	write(
		product(t, s, "a2", "SKU-A", 1_100_000, day2, day2),
		product(t, s, "b2", "SKU-B", 2_100_000, day2, day2),
		product(t, s, "b3", "SKU-B", 2_200_000, day2, day2.Add(time.Second)),
		product(t, s, "d1", "SKU-D", 4_000_000, day2, day2),
		product(t, s, "d2", "SKU-D", 4_100_000, day2, day2), // same times: the greater id wins
	)
	table, _ := contract.MapTable(s.Descriptor())
	rows := query(t, w, fmt.Sprintf("SELECT sku, _event_id, price.amount_micros FROM %s ORDER BY sku", duckdb.LatestView(table.Name)))
	want := "[[SKU-A a2 1100000] [SKU-B b3 2200000] [SKU-C c1 3000000] [SKU-D d2 4100000]]"
	if got := fmt.Sprint(rows); got != want {
		t.Fatalf("%s holds %s, want %s", duckdb.LatestView(table.Name), got, want)
	}
	if n := query(t, w, "SELECT count(*) FROM "+table.Name)[0][0]; fmt.Sprint(n) != "8" {
		t.Errorf("the table holds %v rows, want all 8", n)
	}
}

// TestLatestViewFollowsEvolution: after a new version adds a column, the
// view (recreated with the migration) reads, and shows the new column;
// after a restart (the warehouse reopened) it is still there.
func TestLatestViewFollowsEvolution(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	all := contracts(t)
	telemetry := all["shop.telemetry.v1.VehicleTemperatureReading"]
	table, err := contract.MapTable(telemetry.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if table.EntityKey == "" {
		t.Fatal("VehicleTemperatureReading has no entity key")
	}
	w, err := duckdb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(t.Context(), &sink.Batch{Subject: telemetry.Subject, Events: events(t, telemetry, 50, "e")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().ExecContext(t.Context(), "ALTER TABLE "+table.Name+" ADD COLUMN extra VARCHAR"); err != nil {
		t.Fatal(err)
	}
	_ = w.Close(t.Context())
	// A new process migrates again (its cache is empty) and must replace
	// the view DuckDB now refuses.
	w, err = duckdb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(t.Context())
	if err := w.Migrate(t.Context(), telemetry); err != nil {
		t.Fatal(err)
	}
	rows := query(t, w, fmt.Sprintf("SELECT count(*), count(DISTINCT %s), count(extra) FROM %s", table.EntityKey, duckdb.LatestView(table.Name)))
	keys := query(t, w, fmt.Sprintf("SELECT count(DISTINCT %s) FROM %s", table.EntityKey, table.Name))
	if fmt.Sprint(rows[0][0]) != fmt.Sprint(keys[0][0]) || fmt.Sprint(rows[0][1]) != fmt.Sprint(keys[0][0]) {
		t.Errorf("view: %v rows, %v keys; the table has %v keys", rows[0][0], rows[0][1], keys[0][0])
	}
}

// TestNoLatestViewWithoutKey: a contract without an entity key gets no
// _latest view.
func TestNoLatestViewWithoutKey(t *testing.T) {
	t.Parallel()
	for _, s := range contracts(t) {
		table, err := contract.MapTable(s.Descriptor())
		if err != nil || table.EntityKey != "" {
			continue
		}
		w := open(t)
		if err := w.Migrate(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		n := query(t, w, fmt.Sprintf("SELECT count(*) FROM duckdb_views() WHERE view_name = '%s'", duckdb.LatestView(table.Name)))
		if fmt.Sprint(n[0][0]) != "0" {
			t.Errorf("%s has a _latest view without an entity key", s.Subject)
		}
		return
	}
	t.Skip("every sample contract has an entity key")
}
