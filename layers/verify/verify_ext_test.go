package verify_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hemlabs/hem/layers/layerstest"
	"github.com/hemlabs/hem/layers/verify"
)

func TestVerifyFindsAGapMadeByDeletingAnArchiveObject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	events := layerstest.Sales(t, 3*96, start) // three days, 96 a day
	gcs, reader := layerstest.ArchiveOf(t, events, 50)
	w := layerstest.WarehouseOf(t, events)
	cfg := verify.Config{Since: start, Until: start.Add(72 * time.Hour), Now: func() time.Time { return start.Add(96 * time.Hour) }}

	rep, err := verify.Run(ctx, reader, verify.DuckDB(w), cfg)
	if err != nil {
		t.Fatalf("clean run: %v (gaps %+v)", err, rep.Gaps)
	}
	if len(rep.Days) != 3 || len(rep.Gaps) != 0 {
		t.Fatalf("clean run: %d days, %d gaps; want 3 and 0", len(rep.Days), len(rep.Gaps))
	}
	for _, d := range rep.Days {
		if d.Archive.IDs != 96 || d.Archive != d.Warehouse {
			t.Errorf("%s: archive %v, warehouse %v; want 96 ids on both sides", d.Day.Format(time.DateOnly), d.Archive, d.Warehouse)
		}
	}

	// Delete the object of the second day's 10:00 hour, through the GCS API.
	objects, err := reader.Objects(ctx, "lay.v1.Sale", start.Add(34*time.Hour), start.Add(35*time.Hour))
	if err != nil || len(objects) != 1 {
		t.Fatalf("objects of 10:00: %v %v", objects, err)
	}
	if err := gcs.Bucket("archive").Object(objects[0].Name).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = verify.Run(ctx, reader, verify.DuckDB(w), cfg)
	if !errors.Is(err, verify.ErrGaps) {
		t.Fatalf("after deleting an object: %v, want ErrGaps", err)
	}
	if len(rep.Gaps) != 1 {
		t.Fatalf("gaps %+v, want one", rep.Gaps)
	}
	g := rep.Gaps[0]
	if !g.Day.Day.Equal(start.Add(24*time.Hour)) || g.Archive.IDs != 92 || g.Warehouse.IDs != 96 ||
		len(g.NotInArchive) != 4 || len(g.NotInWarehouse) != 0 || g.NotInArchive[0] != "sale-0136" {
		t.Errorf("gap %+v: want day 2, 92 archived of 96, sale-0136..0139 not in the archive", g)
	}

	// Past the table's 90 days the warehouse lets days go: not a gap.
	cfg.Now = func() time.Time { return start.AddDate(0, 0, 100) }
	rep, err = verify.Run(ctx, reader, verify.DuckDB(w), cfg)
	if err != nil || rep.Expired() != 3 {
		t.Fatalf("past retention: %v, %d days expired; want no gap, 3 expired", err, rep.Expired())
	}
}
