package duckdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
	"github.com/hemlabs/hem/sink/sinktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		path := filepath.Join(t.TempDir(), "w.duckdb")
		w, err := duckdb.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		h := &sinktest.Harness{Sink: w, Dedup: true, DifferentPayload: true, Rows: func(ctx context.Context, subject string) ([]sinktest.Row, error) {
			return readRows(ctx, w, tableOf(t, subject))
		}}
		h.Migrate = func(ctx context.Context, s *contract.Schema) error { return w.Migrate(ctx, s) }
		// A restart: the file closed and opened again.
		h.Reopen = func(t *testing.T) sink.Sink {
			if err := w.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if w, err = duckdb.Open(t.Context(), path); err != nil {
				t.Fatal(err)
			}
			return w
		}
		return h
	})
}

func tableOf(t *testing.T, subject string) string {
	if subject == contract.FailedEventSchema().Subject {
		return "_failed_events"
	}
	return contract.TableName(sinktest.Schemas(t)[subject].Descriptor())
}

// readRows reads a table with database/sql and normalizes DuckDB's values.
func readRows(ctx context.Context, w *duckdb.Warehouse, table string) ([]sinktest.Row, error) {
	rs, err := w.DB().QueryContext(ctx, fmt.Sprintf(`SELECT * FROM "%s"`, table))
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []sinktest.Row
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := sinktest.Row{}
		for i, c := range cols {
			if c == contract.ColAttributes && vals[i] != nil { // JSON comes back decoded
				b, _ := json.Marshal(vals[i])
				r[c] = sinktest.CompactJSON(string(b))
				continue
			}
			r[c] = normalize(vals[i])
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func normalize(v any) any {
	switch v := v.(type) {
	case time.Time:
		return sinktest.Time(v)
	case duckdbdriver.Decimal:
		return v.Value.String()
	case duckdbdriver.Interval:
		return (time.Duration(v.Micros) * time.Microsecond).String()
	case int32:
		return int64(v)
	case map[string]any:
		r := sinktest.Row{}
		for k, x := range v {
			r[k] = normalize(x)
		}
		return r
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}
