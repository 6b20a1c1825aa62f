package bigquerytest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/parquet-go/parquet-go"
	"google.golang.org/api/googleapi"

	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// rollupSchema is a daily rollup table: one row per day and sku.
var rollupSchema = bigquery.Schema{
	{Name: "day", Type: bigquery.TimestampFieldType},
	{Name: "sku", Type: bigquery.StringFieldType},
	{Name: "qty", Type: bigquery.IntegerFieldType},
}

const rollupSQL = "SELECT TIMESTAMP_TRUNC(_event_time, DAY) AS day, sku, SUM(qty) AS qty FROM `proj.ds.events_dedup`\n" +
	"WHERE _event_time >= @from AND _event_time < @to GROUP BY day, sku"

func (e *env) runQuery(t *testing.T, q *bigquery.Query) error {
	t.Helper()
	job, err := q.Run(t.Context())
	if err != nil {
		return err
	}
	status, err := job.Wait(t.Context())
	if err != nil {
		return err
	}
	return status.Err()
}

func (e *env) rollup(day time.Time, dst string, write bigquery.TableWriteDisposition) *bigquery.Query {
	q := e.bq.Query(rollupSQL)
	q.Parameters = []bigquery.QueryParameter{{Name: "from", Value: day}, {Name: "to", Value: day.Add(24 * time.Hour)}}
	q.Dst = e.ds.Table(dst)
	q.WriteDisposition = write
	return q
}

func tableRows(t *testing.T, e *env, table string) string {
	t.Helper()
	rows := e.rows(t, table)
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s/%v/%v", r["day"].(time.Time).Format("01-02"), r["sku"], r["qty"]))
	}
	return strings.Join(out, " ")
}

// TestDestinationPartition: a query with destination table$YYYYMMDD and
// WRITE_TRUNCATE replaces exactly that day, refusing rows of other days;
// WRITE_APPEND adds and WRITE_EMPTY refuses a partition with rows.
func TestDestinationPartition(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	if err := e.ds.Table("rollup").Create(t.Context(), &bigquery.TableMetadata{Schema: rollupSchema,
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "day"}}); err != nil {
		t.Fatal(err)
	}
	day1 := day0.Add(24 * time.Hour)
	for _, d := range []time.Time{day0, day1} {
		if err := e.runQuery(t, e.rollup(d, "rollup$"+d.Format("20060102"), bigquery.WriteTruncate)); err != nil {
			t.Fatal(err)
		}
	}
	want := "03-01/apple/5 03-01/pear/1 03-02/apple/5 03-02/plum/7"
	if got := sorted(tableRows(t, e, "rollup")); got != want {
		t.Fatalf("rollup %s, want %s", got, want)
	}
	// Rerunning a day replaces it, and only it.
	if err := e.runQuery(t, e.rollup(day0, "rollup$20260301", bigquery.WriteTruncate)); err != nil {
		t.Fatal(err)
	}
	if got := sorted(tableRows(t, e, "rollup")); got != want {
		t.Fatalf("after a rerun %s, want %s", got, want)
	}

	tests := []struct {
		name   string
		q      *bigquery.Query
		reason string
		msg    string
	}{
		{name: "rows of another day", q: e.rollup(day1, "rollup$20260301", bigquery.WriteTruncate), reason: "invalid",
			msg: "Some rows belong to different partitions rather than destination partition 20260301"},
		{name: "partition not empty", q: e.rollup(day0, "rollup$20260301", bigquery.WriteEmpty), reason: "duplicate"},
		{name: "hour decorator on a day table", q: e.rollup(day0, "rollup$2026030100", bigquery.WriteTruncate), reason: "invalid"},
		{name: "incompatible schema", q: func() *bigquery.Query {
			q := e.bq.Query("SELECT TIMESTAMP '2026-03-01' AS day, 1 AS sku, 2 AS qty")
			q.Dst, q.WriteDisposition = e.ds.Table("rollup$20260301"), bigquery.WriteTruncate
			return q
		}(), reason: "invalid", msg: "Field sku has changed type from STRING to INTEGER"},
		{name: "extra column", q: func() *bigquery.Query {
			q := e.bq.Query("SELECT TIMESTAMP '2026-03-01' AS day, 'a' AS sku, 2 AS qty, 3 AS more")
			q.Dst, q.WriteDisposition = e.ds.Table("rollup$20260301"), bigquery.WriteTruncate
			return q
		}(), reason: "invalid", msg: "Cannot add fields (field: more)"},
		{name: "create never", q: func() *bigquery.Query {
			q := e.bq.Query("SELECT 1 AS x")
			q.Dst, q.CreateDisposition = e.ds.Table("absent"), bigquery.CreateNever
			return q
		}(), reason: "notFound", msg: "Not found: Table proj:ds.absent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.runQuery(t, tc.q)
			if err == nil {
				t.Fatal("the job succeeded")
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %s %q", err, tc.reason, tc.msg)
			}
			if got := sorted(tableRows(t, e, "rollup")); got != want {
				t.Fatalf("a failed job changed the table: %s", got)
			}
		})
	}

	if err := e.runQuery(t, e.rollup(day1, "rollup", bigquery.WriteAppend)); err != nil {
		t.Fatal(err)
	}
	if got := len(e.rows(t, "rollup")); got != 6 {
		t.Fatalf("%d rows after an append, want 6", got)
	}
	// A new table takes the result's schema.
	if err := e.runQuery(t, e.rollup(day1, "fresh", "")); err != nil {
		t.Fatal(err)
	}
	meta, err := e.ds.Table("fresh").Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(meta.Schema[0].Name, meta.Schema[0].Type, meta.Schema[2].Type, meta.NumRows); got != "dayTIMESTAMPINTEGER2" {
		t.Fatalf("created table: %s", got)
	}
}

func sorted(s string) string {
	f := strings.Fields(s)
	for i := range f {
		for j := i + 1; j < len(f); j++ {
			if f[j] < f[i] {
				f[i], f[j] = f[j], f[i]
			}
		}
	}
	return strings.Join(f, " ")
}

// TestDryRun: a dry run reports the bytes of the columns read, over the
// partitions a filter on the partitioning column selects, and changes
// nothing; maximumBytesBilled refuses a query that would bill more.
func TestDryRun(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	// Per row: _event_id 2+2, sku 2+len, qty 8, _event_time 8, _published_at 8.
	tests := []struct {
		name string
		q    string
		want int64
	}{
		{name: "count star reads nothing", q: "SELECT COUNT(*) FROM `proj.ds.events`", want: 0},
		{name: "one column", q: "SELECT qty FROM `proj.ds.events`", want: 6 * 8},
		{name: "two columns", q: "SELECT sku, SUM(qty) FROM `proj.ds.events` GROUP BY sku", want: 6*8 + 4*(2+5) + 2*(2+4)},
		{name: "partition filter", q: "SELECT qty FROM `proj.ds.events` WHERE _event_time >= TIMESTAMP '2026-03-02'", want: 2 * (8 + 8)},
		{name: "filter through the dedup view", q: "SELECT qty FROM `proj.ds.events_dedup` WHERE _event_time >= TIMESTAMP '2026-03-02' AND _event_time < TIMESTAMP '2026-03-03'",
			want: 2 * (8 + 8 + 8 + 4)},
		{name: "parameters bound the partitions", q: "SELECT qty FROM `proj.ds.events` WHERE _event_time < @to", want: 4 * (8 + 8)},
		{name: "no table", q: "SELECT 1", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := e.bq.Query(tc.q)
			q.DryRun = true
			q.Parameters = []bigquery.QueryParameter{{Name: "to", Value: day0.Add(24 * time.Hour)}}
			job, err := q.Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			st := job.LastStatus()
			if st.Err() != nil || st.Statistics == nil {
				t.Fatalf("status %+v", st)
			}
			if st.Statistics.TotalBytesProcessed != tc.want {
				t.Errorf("bytes %d, want %d", st.Statistics.TotalBytesProcessed, tc.want)
			}
		})
	}

	q := e.bq.Query("SELECT * FROM `proj.ds.nope`")
	q.DryRun = true
	_, err := q.Run(t.Context())
	if ae := apiError(t, err); ae.Code != http.StatusNotFound {
		t.Errorf("dry run of a missing table: %v", err)
	}

	q = e.bq.Query("SELECT qty FROM `proj.ds.events`")
	q.MaxBytesBilled = 1000
	_, err = read(t, q)
	ae := apiError(t, err)
	if ae.Code != http.StatusBadRequest || ae.Errors[0].Reason != "bytesBilledLimitExceeded" ||
		ae.Message != "Query exceeded limit for bytes billed: 1000. 10485760 or higher required." {
		t.Errorf("over the limit: %v", err)
	}
	q.MaxBytesBilled = 10 << 20
	if _, err := read(t, q); err != nil {
		t.Errorf("within the limit: %v", err)
	}
}

type loadRow struct {
	ID   string    `json:"id" parquet:"id"`
	N    int64     `json:"n" parquet:"n"`
	At   time.Time `json:"at" parquet:"at,timestamp(microsecond)"`
	Tags []string  `json:"tags" parquet:"tags,list"`
}

// TestLoad: a load from an upload, as NDJSON or Parquet, appends or
// replaces rows; rows that do not fit the schema fail the job with
// BigQuery's messages and load nothing.
func TestLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	schema := bigquery.Schema{
		{Name: "id", Type: bigquery.StringFieldType, Required: true},
		{Name: "n", Type: bigquery.IntegerFieldType},
		{Name: "at", Type: bigquery.TimestampFieldType},
		{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
	}
	tb := e.createTable(t, "loaded", schema)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var pq bytes.Buffer
	if err := parquet.Write(&pq, []loadRow{{ID: "p1", N: 1, At: at, Tags: []string{"a"}}, {ID: "p2", N: 2, At: at}}); err != nil {
		t.Fatal(err)
	}
	load := func(data []byte, format bigquery.DataFormat, write bigquery.TableWriteDisposition, opts ...googleapi.MediaOption) error {
		src := bigquery.NewReaderSource(bytes.NewReader(data))
		src.SourceFormat = format
		l := tb.LoaderFrom(src)
		l.WriteDisposition = write
		l.MediaOptions = opts
		job, err := l.Run(t.Context())
		if err != nil {
			return err
		}
		st, err := job.Wait(t.Context())
		if err != nil {
			return err
		}
		if st.Err() == nil {
			return nil
		}
		var msgs []string
		for _, e := range st.Errors {
			msgs = append(msgs, e.Message)
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	ids := func() []string {
		var out []string
		for _, r := range e.rows(t, "loaded") {
			out = append(out, r["id"].(string))
		}
		return out
	}
	ndjson := `{"id":"j1","n":"5","at":"2026-03-01 12:00:00 UTC","tags":["x"]}` + "\n" + `{"id":"j2","n":6,"at":"2026-03-01T12:00:00Z"}` + "\n"
	if err := load([]byte(ndjson), bigquery.JSON, ""); err != nil {
		t.Fatal(err)
	}
	if err := load(pq.Bytes(), bigquery.Parquet, bigquery.WriteAppend); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !reflect.DeepEqual(got, []string{"j1", "j2", "p1", "p2"}) {
		t.Fatalf("ids %v", got)
	}
	rows := e.rows(t, "loaded")
	if !rows[0]["at"].(time.Time).Equal(at) || !rows[2]["at"].(time.Time).Equal(at) || rows[1]["n"] != int64(6) || fmt.Sprint(rows[2]["tags"]) != "[a]" {
		t.Fatalf("rows %v", rows)
	}
	if err := load(pq.Bytes(), bigquery.Parquet, bigquery.WriteTruncate); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !reflect.DeepEqual(got, []string{"p1", "p2"}) {
		t.Fatalf("after truncate: ids %v", got)
	}

	// A large upload goes in chunks (a resumable upload).
	var big strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&big, `{"id":"r%04d","n":%d,"tags":["%s"]}`+"\n", i, i, strings.Repeat("x", 100))
	}
	if err := load([]byte(big.String()), bigquery.JSON, bigquery.WriteTruncate, googleapi.ChunkSize(256<<10)); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 3000 || got[2999] != "r2999" {
		t.Fatalf("chunked upload: %d rows", len(got))
	}
	if err := load(pq.Bytes(), bigquery.Parquet, bigquery.WriteTruncate); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name, data, msg string
	}{
		{name: "unknown field", data: `{"id":"b","nope":1}`, msg: "No such field: nope."},
		{name: "missing required", data: `{"n":1}`, msg: "Missing required field: id."},
		{name: "wrong type", data: `{"id":"b","n":"x"}`, msg: "Could not convert value to integer. Field: n; Value: x"},
		{name: "not json", data: `{"id":`, msg: "JSON parsing error in row starting at position 12"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := load([]byte(`{"id":"ok"}`+"\n"+tc.data+"\n"), bigquery.JSON, "")
			if err == nil || !strings.Contains(err.Error(), "JSON table encountered too many errors") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %q", err, tc.msg)
			}
			if got := ids(); !reflect.DeepEqual(got, []string{"p1", "p2"}) {
				t.Fatalf("a failed load changed the table: %v", got)
			}
		})
	}
}

// TestExpiration: an expired table is gone; a partition expires
// expirationMs after its start, and its rows are left out.
func TestExpiration(t *testing.T) {
	t.Parallel()
	c := &clock{t: day0.Add(5 * 24 * time.Hour)}
	e := newEnv(t, bigquerytest.WithClock(c.now))
	tb := e.ds.Table("short")
	if err := tb.Create(t.Context(), &bigquery.TableMetadata{Schema: rollupSchema, ExpirationTime: c.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Metadata(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	if _, err := tb.Metadata(t.Context()); apiError(t, err).Code != http.StatusNotFound {
		t.Fatalf("expired table: %v", err)
	}
	if _, err := read(t, e.bq.Query("SELECT * FROM ds.short")); apiError(t, err).Code != http.StatusNotFound {
		t.Fatalf("query of an expired table: %v", err)
	}
	if err := tb.Create(t.Context(), &bigquery.TableMetadata{Schema: rollupSchema}); err != nil {
		t.Fatalf("the name of an expired table is free: %v", err)
	}

	parts := e.ds.Table("parts")
	if err := parts.Create(t.Context(), &bigquery.TableMetadata{Schema: rollupSchema,
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "day", Expiration: 72 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	q := e.bq.Query("SELECT * FROM UNNEST([TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-04', TIMESTAMP '2026-03-05']) AS day")
	q2 := e.bq.Query("SELECT day, 'a' AS sku, 1 AS qty FROM (" + q.Q + ")")
	q2.Dst, q2.WriteDisposition = parts, bigquery.WriteAppend
	if err := e.runQuery(t, q2); err != nil {
		t.Fatal(err)
	}
	rows, err := read(t, e.bq.Query("SELECT COUNT(*) FROM ds.parts"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[[2]]" {
		t.Fatalf("rows within the partition expiration: %v", rows)
	}
}
