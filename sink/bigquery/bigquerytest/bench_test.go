package bigquerytest_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
)

// BenchmarkQueryJob runs a daily rollup query over 10,000 rows through
// the official client: each run copies the table into DuckDB, estimates
// the bytes from the plan and runs the query.
func BenchmarkQueryJob(b *testing.B) {
	e := newEnv(b)
	tb := e.ds.Table("events")
	if err := tb.Create(b.Context(), &bigquery.TableMetadata{Schema: bigquery.Schema{
		{Name: "ts", Type: bigquery.TimestampFieldType}, {Name: "sku", Type: bigquery.StringFieldType}, {Name: "qty", Type: bigquery.IntegerFieldType},
	}, TimePartitioning: &bigquery.TimePartitioning{Field: "ts"}}); err != nil {
		b.Fatal(err)
	}
	var data bytes.Buffer
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10000 {
		fmt.Fprintf(&data, `{"ts":%q,"sku":"s%d","qty":%d}`+"\n", t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i%50, i)
	}
	src := bigquery.NewReaderSource(&data)
	src.SourceFormat = bigquery.JSON
	job, err := tb.LoaderFrom(src).Run(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if st, err := job.Wait(b.Context()); err != nil || st.Err() != nil {
		b.Fatal(err, st.Err())
	}
	q := e.bq.Query("SELECT TIMESTAMP_TRUNC(ts, DAY) AS day, sku, SUM(qty) AS qty FROM ds.events WHERE ts >= @from GROUP BY day, sku")
	q.Parameters = []bigquery.QueryParameter{{Name: "from", Value: t0.Add(24 * time.Hour)}}
	b.ReportAllocs()
	for b.Loop() {
		it, err := q.Read(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		var row []bigquery.Value
		if err := it.Next(&row); err != nil {
			b.Fatal(err)
		}
	}
}
