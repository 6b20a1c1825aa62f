package archive_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/hemlabs/hem/sink/archive"
)

// A reader skips the pages and row groups whose bounds rule a filter out:
// a typed object keeps each column's bounds per page (the column index)
// and per chunk, the payload's aside.
func TestTypedObjectsKeepBoundsForPruning(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	data, err := archive.Encode(events(t, 50, start, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	chunks := f.Metadata().RowGroups[0].Columns
	for i, c := range f.RowGroups()[0].ColumnChunks() {
		name := chunks[i].MetaData.PathInSchema
		if name[0] != "_event_id" && name[0] != "_event_time" && name[0] != "order_id" {
			continue
		}
		stats := chunks[i].MetaData.Statistics
		if len(stats.MinValue) == 0 || len(stats.MaxValue) == 0 {
			t.Errorf("%v: no chunk bounds", name)
		}
		index, err := c.ColumnIndex()
		if err != nil {
			t.Fatalf("%v: %v", name, err)
		}
		if index.NumPages() == 0 || index.MinValue(0).IsNull() || index.MaxValue(0).IsNull() {
			t.Errorf("%v: no page bounds in the column index", name)
		}
	}
	if want := "e-0000"; string(chunks[0].MetaData.Statistics.MinValue) != want {
		t.Errorf("_event_id min %q, want %q", chunks[0].MetaData.Statistics.MinValue, want)
	}
}
