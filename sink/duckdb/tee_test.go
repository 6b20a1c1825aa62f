package duckdb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
	"github.com/hemlabs/hem/sink/sinktest"
)

// The tee of a warehouse and an archive, as the failed-events processor
// writes (internal/wiring), keeps the sink contract: rows are read from
// the warehouse, and the archive must hold the same events.
func TestTeeConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		path := filepath.Join(t.TempDir(), "w.duckdb")
		w, err := duckdb.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		client := localgcstest.Client(t, "archive")
		a, err := archive.New(client, "archive")
		if err != nil {
			t.Fatal(err)
		}
		r := archive.NewReader(client, "archive", "events/")
		h := &sinktest.Harness{Sink: sink.Tee(w, a), Dedup: true, DifferentPayload: true}
		h.Rows = func(ctx context.Context, subject string) ([]sinktest.Row, error) {
			rows, err := readRows(ctx, w, tableOf(t, subject))
			if err != nil {
				return nil, err
			}
			var inWarehouse, inArchive []string
			for _, row := range rows {
				inWarehouse = append(inWarehouse, row[contract.ColEventID].(string))
			}
			err = r.Events(ctx, subject, time.Unix(0, 0), time.Now().Add(365*24*time.Hour), func(rec *archive.Record) error {
				inArchive = append(inArchive, rec.EventID)
				return nil
			})
			if err != nil {
				return nil, err
			}
			slices.Sort(inWarehouse)
			slices.Sort(inArchive)
			if !slices.Equal(inWarehouse, inArchive) {
				return nil, fmt.Errorf("the warehouse holds events %v, the archive %v", inWarehouse, inArchive)
			}
			return rows, nil
		}
		h.Migrate = func(ctx context.Context, s *contract.Schema) error { return w.Migrate(ctx, s) }
		// A restart: both sinks closed and opened again over their storage.
		h.Reopen = func(t *testing.T) sink.Sink {
			if err := h.Sink.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if w, err = duckdb.Open(t.Context(), path); err != nil {
				t.Fatal(err)
			}
			if a, err = archive.New(client, "archive"); err != nil {
				t.Fatal(err)
			}
			return sink.Tee(w, a)
		}
		return h
	})
}
