package restore_test

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/layers/layerstest"
	"github.com/hemlabs/hem/layers/restore"
)

// The same expired range restored into the BigQuery fake: a load job into
// a table of the events table's shape, which BigQuery deletes at its
// expiration time.
func TestRestoreAnExpiredRangeIntoBigQuery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(start.AddDate(0, 0, 100).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }

	// The events table, as the registry made it for version 2 (its rows of
	// November expired 90 days on).
	bq, s := layerstest.BigQuery(t, now)
	if err := s.Migrate(ctx, layerstest.Schema(t, layerstest.ProtoV2, 2, 2)); err != nil {
		t.Fatal(err)
	}

	old := layerstest.Sales(t, 3*96, start)
	_, reader := layerstest.ArchiveOf(t, old, 60)
	since, until := start, start.Add(72*time.Hour)
	res, err := restore.Run(ctx, reader, restore.NewBigQuery(bq, "hem"), restore.Config{
		Subject: layerstest.Subject, Since: since, Until: until, Now: now, Expires: 7 * 24 * time.Hour, BatchSize: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Loaded != 288 || res.Rows != 348 || len(res.Days) != 3 {
		t.Fatalf("result %+v: want 288 loaded of 348 read, 3 days", res)
	}
	for _, d := range res.Days {
		if d.Archive.IDs != 96 || d.Table != d.Archive {
			t.Errorf("%s: archive %v, table %v", d.Day.Format(time.DateOnly), d.Archive, d.Table)
		}
	}
	it, err := bq.Query("SELECT COUNT(*) AS n, COUNT(DISTINCT _event_id) AS ids, COUNT(note) AS notes FROM `proj.hem." + res.Table + "`").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var row struct{ N, IDs, Notes int64 }
	if err := it.Next(&row); err != nil && !errors.Is(err, iterator.Done) {
		t.Fatal(err)
	}
	if row.N != 288 || row.IDs != 288 || row.Notes != 144 {
		t.Fatalf("restore table: %+v; want 288 rows, 288 ids, 144 notes (v1 rows read NULL there)", row)
	}
	meta, err := bq.Dataset("hem").Table(res.Table).Metadata(ctx)
	if err != nil || !meta.ExpirationTime.Equal(now().Add(7*24*time.Hour)) {
		t.Fatalf("restore table expires %v (%v), want in 7 days", meta, err)
	}

	clock.Add(int64(7*24*time.Hour + time.Second))
	_, err = bq.Dataset("hem").Table(res.Table).Metadata(ctx)
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusNotFound {
		t.Fatalf("restore table after its expiration: %v, want 404", err)
	}
}
