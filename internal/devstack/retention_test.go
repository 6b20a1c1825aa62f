package devstack_test

import (
	"testing"
	"time"
)

// hem dev's DuckDB drops what BigQuery's partition expiration would: the
// telemetry sample keeps 400 days of its measured_at partitions.
func TestDevWarehouseExpiresAsBigQueryWould(t *testing.T) {
	t.Parallel()
	st := start(t, t.TempDir())
	now := time.Now()
	table := "shop_telemetry_v1_vehicle_temperature_reading"
	for id, age := range map[string]int{"old": 500, "new": 3} {
		if _, err := st.WarehouseDB().ExecContext(t.Context(), "INSERT INTO "+table+" (_event_id, _event_time, measured_at) VALUES (?, ?, ?)",
			id, now, now.AddDate(0, 0, -age)); err != nil {
			t.Fatal(err)
		}
	}
	// The stack's own round, at start, may take the old row first.
	deleted, err := st.ExpireWarehouse(t.Context(), now)
	if err != nil || deleted[table] > 1 || len(deleted) > 1 {
		t.Fatalf("expired %v (%v), want at most the one old row of %s", deleted, err, table)
	}
	left := sql(t, st, "select _event_id from "+table)
	if len(left) != 1 || left[0][0] != "new" {
		t.Fatalf("left %v", left)
	}
}
