package restore_test

import (
	"testing"
	"time"

	"github.com/hemlabs/hem/layers/layerstest"
	"github.com/hemlabs/hem/layers/restore"
	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink/duckdb"
)

// BenchmarkRestoreDuckDB restores 50,000 archived events (two versions,
// two days: 48 hour objects) from the local GCS server into an in-memory DuckDB:
// list, footers, read and decode, one row per id, load, checksums.
func BenchmarkRestoreDuckDB(b *testing.B) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	const n = 50_000
	events := layerstest.SalesEvery(b, n, start, 48*time.Hour/n)
	_, reader := layerstest.ArchiveOf(b, events, 0)
	until := start.Add(48 * time.Hour)
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		w, err := duckdb.Open(b.Context(), "")
		if err != nil {
			b.Fatal(err)
		}
		res, err := restore.Run(b.Context(), reader, restore.NewDuckDB(w, layerstest.Subject, start, until, nil),
			restore.Config{Subject: layerstest.Subject, Since: start, Until: until})
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows
		_ = w.Close(b.Context())
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkVerifyDuckDB compares the same 50,000 events' archive (the
// _event_id column of each object) with a DuckDB table holding them.
func BenchmarkVerifyDuckDB(b *testing.B) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	const n = 50_000
	events := layerstest.SalesEvery(b, n, start, 48*time.Hour/n)
	_, reader := layerstest.ArchiveOf(b, events, 0)
	w := layerstest.WarehouseOf(b, events)
	until := start.Add(48 * time.Hour)
	b.ReportAllocs()
	var ids int64
	for b.Loop() {
		rep, err := verify.Run(b.Context(), reader, verify.DuckDB(w), verify.Config{Since: start, Until: until, Now: func() time.Time { return until }})
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range rep.Days {
			ids += d.Archive.IDs
		}
	}
	b.ReportMetric(float64(ids)/b.Elapsed().Seconds(), "ids/s")
}
