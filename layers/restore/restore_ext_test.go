package restore_test

import (
	"testing"
	"time"

	"github.com/hemlabs/hem/layers/layerstest"
	"github.com/hemlabs/hem/layers/restore"
	"github.com/hemlabs/hem/sink"
)

// An expired range: the events of November are past the table's 90 days,
// gone from the warehouse (which holds only what came since), and still
// in the archive, some of them archived twice.
func TestRestoreAnExpiredRangeIntoDuckDB(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	old := layerstest.Sales(t, 3*96, start) // three days, 96 a day, half v1 and half v2
	_, reader := layerstest.ArchiveOf(t, old, 60)
	recent := layerstest.Sales(t, 10, start.AddDate(0, 0, 100))
	for _, e := range recent {
		e.ID = "recent-" + e.ID
	}
	w := layerstest.WarehouseOf(t, recent)
	now := start.AddDate(0, 0, 100)
	clock := func() time.Time { return now }

	since, until := start, start.Add(72*time.Hour)
	var progress []restore.Progress
	res, err := restore.Run(ctx, reader, restore.NewDuckDB(w, layerstest.Subject, since, until, clock), restore.Config{
		Subject: layerstest.Subject, Since: since, Until: until, Now: clock, BatchSize: 100,
		Progress: func(p restore.Progress) { progress = append(progress, p) }, ProgressEvery: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Table != "lay_v1_sale_restore_20261120_20261122" || res.Shape.Version != 2 || res.Rows != 3*96+60 || res.Loaded != 3*96 || len(res.Days) != 3 {
		t.Fatalf("result %+v: want table lay_v1_sale_restore_20261120_20261122, shape v2, 348 rows read, 288 loaded, 3 days", res)
	}
	for _, d := range res.Days {
		if d.Archive.IDs != 96 || d.Table != d.Archive {
			t.Errorf("%s: archive %v, table %v", d.Day.Format(time.DateOnly), d.Archive, d.Table)
		}
	}
	if len(progress) < 3 || progress[len(progress)-1].Rows != res.Rows || progress[len(progress)-1].Objects != progress[0].ObjectsTotal {
		t.Errorf("progress %+v", progress)
	}
	// One row per id, every version shaped as v2: v1 rows read NULL in
	// v2's column.
	var rows, ids, notes, v1 int
	err = w.DB().QueryRowContext(ctx, `SELECT count(*), count(DISTINCT _event_id), count(note), count(*) FILTER (WHERE _schema_version = 1)
		FROM lay_v1_sale_restore_20261120_20261122`).Scan(&rows, &ids, &notes, &v1)
	if err != nil || rows != 288 || ids != 288 || notes != 144 || v1 != 144 {
		t.Fatalf("restore table: %d rows, %d ids, %d notes, %d of v1, %v; want 288, 288, 144, 144", rows, ids, notes, v1, err)
	}
	// The event table is untouched.
	var live int
	if err := w.DB().QueryRowContext(ctx, `SELECT count(*) FROM lay_v1_sale`).Scan(&live); err != nil || live != 10 {
		t.Fatalf("event table: %d rows, %v", live, err)
	}

	// The restore table expires after 7 days: the next restore (here of
	// another range) drops it.
	now = now.Add(7*24*time.Hour + time.Second)
	if _, err := restore.Run(ctx, reader, restore.NewDuckDB(w, layerstest.Subject, since, since.Add(time.Hour), clock), restore.Config{
		Subject: layerstest.Subject, Since: since, Until: since.Add(time.Hour), Now: clock, Table: "first_hour",
	}); err != nil {
		t.Fatal(err)
	}
	var tables []string
	rs, err := w.DB().QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_name NOT LIKE '\_%' ESCAPE '\' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var n string
		_ = rs.Scan(&n)
		tables = append(tables, n)
	}
	rs.Close()
	if len(tables) != 2 || tables[0] != "first_hour" || tables[1] != "lay_v1_sale" {
		t.Fatalf("tables %v, want first_hour and lay_v1_sale", tables)
	}
	// DropExpired, as hem dev calls it on open, drops the second in time.
	dropped, err := restore.DropExpired(ctx, w, now.Add(8*24*time.Hour))
	if err != nil || len(dropped) != 1 || dropped[0] != "first_hour" {
		t.Fatalf("dropped %v, %v", dropped, err)
	}
}

func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	_, reader := layerstest.ArchiveOf(t, layerstest.Sales(t, 4, start), 0)
	w := layerstest.WarehouseOf(t, []*sink.Event{})
	for _, tc := range []struct {
		name string
		cfg  restore.Config
	}{
		{"no subject", restore.Config{Since: start, Until: start.Add(time.Hour)}},
		{"empty window", restore.Config{Subject: layerstest.Subject, Since: start, Until: start}},
		{"nothing archived", restore.Config{Subject: layerstest.Subject, Since: start.AddDate(0, 0, -2), Until: start.AddDate(0, 0, -1)}},
		{"into the event table", restore.Config{Subject: layerstest.Subject, Since: start, Until: start.Add(time.Hour), Table: "LAY_v1_sale"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := restore.Run(t.Context(), reader, restore.NewDuckDB(w, layerstest.Subject, tc.cfg.Since, tc.cfg.Until, nil), tc.cfg); err == nil {
				t.Fatal("restored")
			}
		})
	}
}
