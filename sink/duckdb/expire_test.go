package duckdb_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// A table keeping 400 days (partitioned by its measured_at field) loses
// the rows BigQuery's partition expiration would have dropped, and only
// those.
func TestExpireDeletesWhatBigQueryWouldExpire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := open(t)
	s := contracts(t)["shop.telemetry.v1.VehicleTemperatureReading"]
	table, err := contract.MapTable(s.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if table.PartitionExpirationDays != 400 || table.PartitionColumn != "measured_at" {
		t.Fatalf("the sample changed: %d days on %s", table.PartitionExpirationDays, table.PartitionColumn)
	}
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	if n, err := w.Expire(ctx, table, now); err != nil || n != 0 {
		t.Fatalf("before the table exists: %d, %v", n, err)
	}
	evs := events(t, s, 4, "e")
	// The partitions 401 and 400 days before today are gone (a partition
	// counts as expired its expiration after its day starts, the earliest
	// BigQuery may drop it); 399 days before and yesterday stay.
	for i, age := range []int{401, 400, 399, 1} {
		at := now.Truncate(24*time.Hour).AddDate(0, 0, -age).Add(time.Hour)
		m := evs[i].Message
		m.Set(m.Descriptor().Fields().ByName("measured_at"), protoTimestamp(m, at))
		evs[i].Payload, _ = proto.Marshal(m.Interface())
		evs[i].EventTime = now // the partition column, not the event time, decides
	}
	if err := w.Write(ctx, &sink.Batch{Subject: s.Subject, Events: evs}); err != nil {
		t.Fatal(err)
	}
	before := contract.Retention{WarehouseDays: 400}.WarehouseExpiredBefore(now)
	if n, err := w.CountBefore(ctx, table, before); err != nil || n != 2 {
		t.Fatalf("counted %d rows to expire (%v), want 2", n, err)
	}
	n, err := w.Expire(ctx, table, now)
	if err != nil || n != 2 {
		t.Fatalf("expired %d rows (%v), want 2", n, err)
	}
	rows := query(t, w, "SELECT _event_id FROM "+table.Name+" ORDER BY _event_id")
	if len(rows) != 2 || rows[0][0] != "e-2" || rows[1][0] != "e-3" {
		t.Fatalf("left %v, want e-2 and e-3", rows)
	}
}
