package rollup_test

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hemlabs/hem/layers/rollup"
	"github.com/hemlabs/hem/sink/duckdb"
)

var benchEvents = flag.Int("rollup.events", 10_000_000, "OrderPlaced events of the day BenchmarkRecomputeDay recomputes")

// BenchmarkRecomputeDay: one run of the sales sample rollup
// (SalesByStoreDay) over a DuckDB warehouse holding a day of -rollup.events
// OrderPlaced events (10 million by default), whose rows all arrived in the
// last hour: the run finds the touched day, deletes its buckets, recomputes
// them from the events and moves the watermark, in one transaction (plus
// the two empty days of the lateness window). The events are made by SQL
// straight into the event table; the sink is not measured.
func BenchmarkRecomputeDay(b *testing.B) {
	ctx := context.Background()
	orders, sales := contracts(b)
	w, err := duckdb.Open(ctx, filepath.Join(b.TempDir(), "bench.duckdb"), duckdb.WithMemoryLimit("4GB"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close(ctx) })
	if err := w.Migrate(ctx, orders); err != nil {
		b.Fatal(err)
	}
	n := *benchEvents
	// A day of events, evenly spread; each arrives a minute after it was placed.
	_, err = w.DB().ExecContext(ctx, fmt.Sprintf(`INSERT INTO shop_orders_v1_order_placed
		(_event_id, _event_time, _received_at, _published_at, order_id, member_id, store_id, channel, total, placed_at, gift)
		SELECT 'e-' || i, ts, ts + INTERVAL 1 MINUTE, ts + INTERVAL 1 MINUTE, 'o-' || i, 'M-' || (i * 7 %% 20000),
			'S-' || lpad((i %% 40)::VARCHAR, 3, '0'), ['CHANNEL_WEB', 'CHANNEL_APP', 'CHANNEL_STORE'][i %% 3 + 1],
			{'currency_code': CASE WHEN i %% 10 = 0 THEN 'GBP' ELSE 'EUR' END, 'amount_micros': (i * 7919) %% 500000000},
			ts, i %% 20 = 0
		FROM (SELECT i, TIMESTAMPTZ '2026-12-06 00:00:00+00' + to_microseconds(i * (86400000000 // %d)) AS ts FROM range(%d) t(i))`, n, n))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 0, 30, 0, 0, time.UTC)
	runner := rollup.NewDuckDB(w, rollup.WithClock(func() time.Time { return now }))
	job, err := rollup.NewJob(sales, orders)
	if err != nil {
		b.Fatal(err)
	}
	// The first run backfills and stores the state.
	if _, err := runner.Run(ctx, job, rollup.Options{}); err != nil {
		b.Fatal(err)
	}
	var rows int64
	b.ReportAllocs()
	for b.Loop() {
		// As if the last run saw nothing after 23:00: the day's last rows
		// are new, so the day is recomputed.
		if _, err := w.DB().ExecContext(ctx, `UPDATE _rollup_state SET watermark = TIMESTAMPTZ '2026-12-06 23:00:00+00'`); err != nil {
			b.Fatal(err)
		}
		rep, err := runner.Run(ctx, job, rollup.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Days) != 3 || rep.Days[1] != time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC) {
			b.Fatalf("recomputed %v", rep.Days)
		}
		rows = rep.Rows
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(rows), "rollup-rows")
}
