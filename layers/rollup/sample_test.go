package rollup_test

import (
	"context"
	"testing"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/layers/rollup"
	sinkbq "github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/duckdb"
)

// Every sample rollup's queries, the sql escape hatches included, are
// accepted by DuckDB (run) and by the BigQuery fake (a dry run), over
// empty source tables.
func TestSampleRollupsCompile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := contract.CompileDir(ctx, "../../proto")
	if err != nil {
		t.Fatal(err)
	}
	rollups, err := src.RollupSchemas()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	w, err := duckdb.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(ctx) })
	srv, c := fakeBigQuery(t, clock)
	s, err := sinkbq.New(ctx, sinkbq.Config{Project: bqProject, Dataset: bqEvents, Endpoint: srv.RESTEndpoint(), WriteEndpoint: srv.WriteEndpoint(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	bq, err := rollup.NewBigQuery(c, rollup.BigQueryConfig{Project: bqProject, EventsDataset: bqEvents, Dataset: bqRollups}, rollup.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	duck := rollup.NewDuckDB(w, rollup.WithClock(clock))
	for _, rs := range rollups {
		r, err := rs.Rollup()
		if err != nil {
			t.Fatal(err)
		}
		source, err := src.Schema(r.Source)
		if err != nil {
			t.Fatal(err)
		}
		source = source.WithIdentity(1, 1, contract.Usable, time.Time{})
		if err := w.Migrate(ctx, source); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx, source); err != nil {
			t.Fatal(err)
		}
		job, err := rollup.NewJob(rs, source)
		if err != nil {
			t.Fatal(err)
		}
		for name, runner := range map[string]*rollup.Runner{"duckdb": duck, "bigquery": bq} {
			rep, err := runner.Run(ctx, job, rollup.Options{DryRun: true})
			if err != nil {
				t.Errorf("%s on %s: %v", rs.Subject, name, err)
				continue
			}
			if len(rep.Days) == 0 || rep.Rows != 0 {
				t.Errorf("%s on %s: %+v, want the lateness window's days and no rows", rs.Subject, name, rep)
			}
		}
	}
}
