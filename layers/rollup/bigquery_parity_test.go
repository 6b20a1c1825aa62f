package rollup_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/layers/rollup"
	"github.com/hemlabs/hem/sink"
	sinkbq "github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

const (
	bqProject = "hem-test"
	bqEvents  = "hem_events"
	bqRollups = "hem_rollups"
)

// fakeBigQuery starts the BigQuery fake and returns a client of it.
func fakeBigQuery(t testing.TB, clock func() time.Time) (*bigquerytest.Server, *bigquery.Client) {
	t.Helper()
	srv, err := bigquerytest.NewServer(bigquerytest.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := bigquery.NewClient(context.Background(), bqProject, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// bigQueryWarehouses are the BigQuery legs of the parity test: the
// BigQuery sink writes the events (duplicates land as rows: the dedup view
// hides them), the runner reads the dedup view.
func bigQueryWarehouses(t *testing.T, orders, _ *contract.Schema, clock func() time.Time) []warehouse {
	t.Helper()
	srv, c := fakeBigQuery(t, clock)
	s, err := sinkbq.New(t.Context(), sinkbq.Config{Project: bqProject, Dataset: bqEvents,
		Endpoint: srv.RESTEndpoint(), WriteEndpoint: srv.WriteEndpoint(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	if err := s.Migrate(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	r, err := rollup.NewBigQuery(c, rollup.BigQueryConfig{Project: bqProject, EventsDataset: bqEvents, Dataset: bqRollups}, rollup.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return []warehouse{{
		name:   "bigquery",
		write:  func(evs []*sink.Event) { writeAll(t, s, orders.Subject, evs) },
		runner: r,
		rows:   func() []row { return bqRows(t, srv, "shop_orders_v1_sales_by_store_day") },
	}}
}

func bqRows(t testing.TB, srv *bigquerytest.Server, table string) []row {
	t.Helper()
	rs, err := srv.Rows(bqProject, bqRollups, table)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]row, 0, len(rs))
	for _, r := range rs {
		i := func(k string) int64 { v, _ := r[k].(int64); return v }
		s := func(k string) string { v, _ := r[k].(string); return v }
		d, _ := r["day"].(time.Time)
		out = append(out, row{day: d.UTC().Format(time.RFC3339), store: s("store_id"), channel: s("channel"), currency: s("currency_code"),
			orders: i("orders"), revenue: i("revenue_micros"), maxOrder: i("max_order_micros"), members: i("members"), gifts: i("gift_orders")})
	}
	return sortRows(out)
}
