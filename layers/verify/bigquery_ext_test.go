package verify_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hemlabs/hem/layers/layerstest"
	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink"
)

// Verify against BigQuery (the fake): query jobs digest the table's days,
// whose rows are at least once (a batch written twice).
func TestVerifyAgainstBigQuery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	bq, s := layerstest.BigQuery(t, nil)
	events := layerstest.Sales(t, 2*96, start)
	for _, batch := range [][]*sink.Event{events, events[:20]} {
		if err := s.Write(ctx, &sink.Batch{Subject: layerstest.Subject, Events: batch}); err != nil {
			t.Fatal(err)
		}
	}
	gcs, reader := layerstest.ArchiveOf(t, events, 0)
	cfg := verify.Config{Since: start, Until: start.Add(48 * time.Hour), Now: func() time.Time { return start.Add(72 * time.Hour) }}
	rep, err := verify.Run(ctx, reader, verify.BigQuery(bq, "hem"), cfg)
	if err != nil || len(rep.Days) != 2 || rep.Days[0].Warehouse.IDs != 96 || rep.Days[0].Warehouse != rep.Days[0].Archive {
		t.Fatalf("clean run: %v, %+v", err, rep)
	}
	objects, err := reader.Objects(ctx, layerstest.Subject, start.Add(3*time.Hour), start.Add(4*time.Hour))
	if err != nil || len(objects) != 1 {
		t.Fatalf("objects %v %v", objects, err)
	}
	if err := gcs.Bucket("archive").Object(objects[0].Name).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = verify.Run(ctx, reader, verify.BigQuery(bq, "hem"), cfg)
	if !errors.Is(err, verify.ErrGaps) || len(rep.Gaps) != 1 || rep.Gaps[0].NotInArchive[0] != "sale-0012" || rep.Gaps[0].Warehouse.IDs != 96 {
		t.Fatalf("after deleting an object: %v, %+v", err, rep.Gaps)
	}
}
