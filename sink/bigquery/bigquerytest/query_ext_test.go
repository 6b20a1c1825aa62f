package bigquerytest_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

const eventProto = `
syntax = "proto2";
package hem.test;
message Row {
  optional string _event_id = 1;
  optional int64 _event_time = 2;
  optional int64 _published_at = 3;
  optional string sku = 4;
  optional int64 qty = 5;
  optional double price = 6;
  optional Rec rec = 7;
  repeated string tags = 8;
  message Rec { optional string a = 1; }
}`

var eventSchema = bigquery.Schema{
	{Name: "_event_id", Type: bigquery.StringFieldType, Required: true},
	{Name: "_event_time", Type: bigquery.TimestampFieldType, Required: true},
	{Name: "_published_at", Type: bigquery.TimestampFieldType},
	{Name: "sku", Type: bigquery.StringFieldType},
	{Name: "qty", Type: bigquery.IntegerFieldType},
	{Name: "price", Type: bigquery.FloatFieldType},
	{Name: "rec", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "a", Type: bigquery.StringFieldType}}},
	{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
}

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// eventRow is one row in protojson: id, hours after day0, sku, qty.
func eventRow(id string, hours int, sku string, qty int) string {
	ts := day0.Add(time.Duration(hours) * time.Hour).UnixMicro()
	return fmt.Sprintf(`{"_event_id":%q,"_event_time":"%d","_published_at":"%d","sku":%q,"qty":"%d","price":1.5,"rec":{"a":"x"},"tags":["t1","t2"]}`,
		id, ts, ts+int64(id[len(id)-1]), sku, qty)
}

// eventsEnv is a fake with table ds.events, partitioned by day on
// _event_time, holding rows over two days (one event id twice), and its
// dedup view.
func eventsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	tb := e.ds.Table("events")
	err := tb.Create(t.Context(), &bigquery.TableMetadata{Schema: eventSchema,
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "_event_time"}})
	if err != nil {
		t.Fatal(err)
	}
	w := e.mustWriter(t, "events", messageDescriptor(t, eventProto))
	rows := encode(t, messageDescriptor(t, eventProto),
		eventRow("e1", 1, "apple", 2), eventRow("e2", 2, "apple", 3), eventRow("e2", 2, "apple", 3),
		eventRow("e3", 3, "pear", 1), eventRow("e4", 25, "apple", 5), eventRow("e5", 26, "plum", 7))
	if _, err := w.append(t, rows); err != nil {
		t.Fatal(err)
	}
	dedup := "SELECT * EXCEPT (_dedup_rank) FROM (\n" +
		"  SELECT *, ROW_NUMBER() OVER (PARTITION BY _event_time, _event_id ORDER BY _published_at) AS _dedup_rank\n" +
		"  FROM `proj.ds.events`)\nWHERE _dedup_rank = 1"
	if err := e.ds.Table("events_dedup").Create(t.Context(), &bigquery.TableMetadata{ViewQuery: dedup}); err != nil {
		t.Fatal(err)
	}
	return e
}

// read runs a query through Query.Read and returns its rows.
func read(t *testing.T, q *bigquery.Query) ([][]bigquery.Value, error) {
	t.Helper()
	it, err := q.Read(t.Context())
	if err != nil {
		return nil, err
	}
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
}

func TestQueryResults(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	tests := []struct {
		name   string
		q      string
		params []bigquery.QueryParameter
		want   string
	}{
		{name: "count", q: "SELECT COUNT(*) FROM `proj.ds.events`", want: "[[6]]"},
		{name: "dedup view", q: "SELECT COUNT(*) AS n FROM `proj.ds.events_dedup`", want: "[[5]]"},
		{name: "daily rollup", q: "SELECT TIMESTAMP_TRUNC(_event_time, DAY) AS day, sku, SUM(qty) AS qty, COUNT(*) AS n, COUNTIF(qty > 2) AS big, APPROX_COUNT_DISTINCT(_event_id) AS ids\n" +
			"FROM `proj.ds.events_dedup` GROUP BY day, sku ORDER BY day, sku",
			want: "[[2026-03-01 00:00:00 +0000 UTC apple 5 2 1 2] [2026-03-01 00:00:00 +0000 UTC pear 1 1 0 1] [2026-03-02 00:00:00 +0000 UTC apple 5 1 1 1] [2026-03-02 00:00:00 +0000 UTC plum 7 1 1 1]]"},
		{name: "hourly, DATE and casts", q: "SELECT TIMESTAMP_TRUNC(_event_time, HOUR), DATE(_event_time), CAST(qty AS FLOAT64), SAFE_CAST('x' AS INT64), CAST(qty AS STRING) FROM ds.events WHERE _event_id = 'e1'",
			want: "[[2026-03-01 01:00:00 +0000 UTC 2026-03-01 2 <nil> 2]]"},
		{name: "named parameters", q: "SELECT sku, qty FROM `proj.ds.events_dedup` WHERE _event_time >= @from AND _event_time < @to AND sku IN UNNEST(@skus) ORDER BY qty",
			params: []bigquery.QueryParameter{{Name: "from", Value: day0.Add(24 * time.Hour)}, {Name: "to", Value: day0.Add(48 * time.Hour)}, {Name: "skus", Value: []string{"apple", "plum"}}},
			want:   "[[apple 5] [plum 7]]"},
		{name: "positional parameters", q: "SELECT COUNT(*) FROM `proj.ds.events` WHERE qty > ? AND sku = ?",
			params: []bigquery.QueryParameter{{Value: 2}, {Value: "apple"}}, want: "[[3]]"},
		{name: "struct field and unnest", q: "SELECT rec.a, tag FROM `proj.ds.events`, UNNEST(tags) AS tag WHERE _event_id = 'e1' ORDER BY tag",
			want: "[[x t1] [x t2]]"},
		{name: "qualify", q: "SELECT _event_id FROM `proj.ds.events` WHERE sku = 'apple' QUALIFY ROW_NUMBER() OVER (PARTITION BY sku ORDER BY _event_time DESC) = 1",
			want: "[[e4]]"},
		{name: "except", q: "SELECT * EXCEPT (_event_time, _published_at, rec, tags, price) FROM `proj.ds.events` WHERE _event_id = 'e3'",
			want: "[[e3 pear 1]]"},
		{name: "names are case-insensitive", q: "SELECT SKU, `Qty` FROM ds.events AS E WHERE e._EVENT_ID = 'e1'", want: "[[apple 2]]"},
		{name: "null order", q: "SELECT x FROM UNNEST([2, NULL, 1]) AS x ORDER BY x", want: "[[<nil>] [1] [2]]"},
		{name: "string literals", q: `SELECT "a'b", 'c\nd', r'\n', b'\x01'`, want: "[[a'b c\nd \\n [1]]]"},
		{name: "with", q: "WITH a AS (SELECT sku, qty FROM `proj.ds.events`) SELECT sku, MAX(qty) FROM a GROUP BY sku ORDER BY 2 DESC LIMIT 1", want: "[[plum 7]]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := e.bq.Query(tc.q)
			q.Parameters = tc.params
			rows, err := read(t, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(rows); got != tc.want {
				t.Errorf("rows\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestQueryErrors: what BigQuery refuses fails with its code, reason and
// message, through both the jobs.query fast path and a job.
func TestQueryErrors(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	tests := []struct {
		name   string
		q      string
		code   int
		reason string
		msg    string
	}{
		{name: "unknown table", q: "SELECT 1 FROM `proj.ds.nope`", code: 404, reason: "notFound", msg: "Not found: Table proj:ds.nope was not found in location US"},
		{name: "unknown dataset", q: "SELECT 1 FROM other.t", code: 404, reason: "notFound", msg: "Not found: Dataset proj:other was not found in location US"},
		{name: "unknown column", q: "SELECT\n  nope FROM `proj.ds.events`", code: 400, reason: "invalidQuery", msg: "Unrecognized name: nope at [2:3]"},
		{name: "syntax", q: "SELECT FROM WHERE", code: 400, reason: "invalidQuery", msg: "Syntax error"},
		{name: "unsupported function", q: "SELECT FORMAT('%d', 1)", code: 400, reason: "invalidQuery", msg: "bigquerytest: unsupported: function FORMAT at [1:8]"},
		{name: "unsupported week", q: "SELECT TIMESTAMP_TRUNC(_event_time, WEEK) FROM `proj.ds.events`", code: 400, reason: "invalidQuery", msg: "bigquerytest: unsupported: date part WEEK"},
		{name: "missing dataset", q: "SELECT 1 FROM events", code: 400, reason: "invalid", msg: `Table name "events" missing dataset while no default dataset is set in the request.`},
		{name: "missing parameter", q: "SELECT @x", code: 400, reason: "invalidQuery", msg: "Query parameter 'x' not found at [1:8]"},
		{name: "not grouped", q: "SELECT sku, qty FROM `proj.ds.events` GROUP BY sku", code: 400, reason: "invalidQuery", msg: "SELECT list expression references column qty which is neither grouped nor aggregated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check := func(how string, err error) {
				t.Helper()
				ae := apiError(t, err)
				if ae.Code != tc.code || ae.Errors[0].Reason != tc.reason || !strings.Contains(ae.Message, tc.msg) {
					t.Errorf("%s: %d %s %q, want %d %s %q", how, ae.Code, ae.Errors[0].Reason, ae.Message, tc.code, tc.reason, tc.msg)
				}
			}
			_, err := read(t, e.bq.Query(tc.q))
			check("jobs.query", err)

			q := e.bq.Query(tc.q)
			q.JobID = "j_" + strings.ReplaceAll(tc.name, " ", "_")
			job, err := q.Run(t.Context())
			if err != nil {
				t.Fatalf("a failing query is still a job: %v", err)
			}
			status, err := job.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if status.State != bigquery.Done || status.Err() == nil {
				t.Fatalf("job status %+v, want done with an error", status)
			}
			_, err = job.Read(t.Context())
			check("job read", err)
		})
	}
}

// TestQueryPaging: results come back page by page through
// getQueryResults.
func TestQueryPaging(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	q := e.bq.Query("SELECT _event_id FROM `proj.ds.events` ORDER BY _event_id")
	q.JobID = "paging" // not the fast path
	job, err := q.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	it, err := job.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	it.PageInfo().MaxSize = 2
	var ids []string
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, row[0].(string))
	}
	if want := []string{"e1", "e2", "e2", "e3", "e4", "e5"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if it.TotalRows != 6 {
		t.Errorf("total rows %d", it.TotalRows)
	}
	// Rows written after a query are in the next one.
	w := e.mustWriter(t, "events", messageDescriptor(t, eventProto))
	if _, err := w.append(t, encode(t, messageDescriptor(t, eventProto), eventRow("e7", 30, "kiwi", 1))); err != nil {
		t.Fatal(err)
	}
	rows, err := read(t, e.bq.Query("SELECT COUNT(*) FROM ds.events"))
	if err != nil || fmt.Sprint(rows) != "[[7]]" {
		t.Fatalf("count after an append: %v %v", rows, err)
	}
}

// TestDML: INSERT, UPDATE and DELETE change the table all or nothing and
// report the rows they changed; BigQuery's refusals are kept.
func TestDML(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	tests := []struct {
		name string
		q    string
		n    int64
		msg  string
	}{
		{name: "delete", q: "DELETE FROM `proj.ds.events` WHERE sku = 'pear'", n: 1},
		{name: "delete without from", q: "DELETE ds.events WHERE _event_id = 'e5'", n: 1},
		{name: "update", q: "UPDATE `proj.ds.events` SET qty = qty * 10 WHERE sku = 'apple' AND _event_id = 'e1'", n: 1},
		{name: "insert values", q: "INSERT INTO `proj.ds.events` (_event_id, _event_time, sku, qty) VALUES ('e9', TIMESTAMP '2026-03-03 10:00:00+02', 'fig', 4)", n: 1},
		{name: "insert select", q: "INSERT ds.events (_event_id, _event_time, sku) SELECT CONCAT(_event_id, 'x'), _event_time, sku FROM ds.events WHERE _event_id = 'e4'", n: 1},
		{name: "delete needs where", q: "DELETE FROM ds.events", msg: "DELETE must have a WHERE clause"},
		{name: "required column", q: "INSERT INTO ds.events (_event_id, sku) VALUES ('e10', 'x')", msg: "Required field _event_time cannot be null"},
		{name: "view", q: "DELETE FROM ds.events_dedup WHERE TRUE", msg: "bigquerytest: unsupported: DML on views"},
	}
	for _, tc := range tests {
		q := e.bq.Query(tc.q)
		job, err := q.Run(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st, err := job.Wait(t.Context())
		if tc.msg != "" {
			if err == nil {
				err = st.Err()
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := st.Statistics.Details.(*bigquery.QueryStatistics).NumDMLAffectedRows; n != tc.n {
			t.Errorf("%s: %d rows affected, want %d", tc.name, n, tc.n)
		}
	}
	rows, err := read(t, e.bq.Query("SELECT _event_id, sku, qty, _event_time FROM ds.events ORDER BY _event_id"))
	if err != nil {
		t.Fatal(err)
	}
	want := "[[e1 apple 20 2026-03-01 01:00:00 +0000 UTC] [e2 apple 3 2026-03-01 02:00:00 +0000 UTC] [e2 apple 3 2026-03-01 02:00:00 +0000 UTC] " +
		"[e4 apple 5 2026-03-02 01:00:00 +0000 UTC] [e4x apple <nil> 2026-03-02 01:00:00 +0000 UTC] [e9 fig 4 2026-03-03 08:00:00 +0000 UTC]]"
	if got := fmt.Sprint(rows); got != want {
		t.Errorf("rows\n got %s\nwant %s", got, want)
	}
}

// TestHemQueries runs the SQL hem itself generates: the latest view, and
// the per-day digest of layers/verify.
func TestHemQueries(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	latest := "SELECT * EXCEPT (_latest_rank) FROM (\n" +
		"  SELECT *, ROW_NUMBER() OVER (PARTITION BY `sku` ORDER BY _event_time DESC, _published_at DESC NULLS LAST, _event_id DESC) AS _latest_rank\n" +
		"  FROM `proj.ds.events`\n  WHERE `sku` IS NOT NULL)\nWHERE _latest_rank = 1"
	if err := e.ds.Table("events_latest").Create(t.Context(), &bigquery.TableMetadata{ViewQuery: latest}); err != nil {
		t.Fatal(err)
	}
	const sums = "WITH ids AS (\n" +
		"  SELECT DISTINCT _event_id AS id, FORMAT_DATE('%F', DATE(_event_time)) AS day\n" +
		"  FROM `proj.ds.events` WHERE _event_time >= @since AND _event_time < @until),\n" +
		"h AS (SELECT day, TO_HEX(SHA256(id)) AS x FROM ids)\n" +
		"SELECT day, COUNT(*) AS n, SUM(CAST(CONCAT('0x', SUBSTR(x, 1, 8)) AS INT64)) AS hi, SUM(CAST(CONCAT('0x', SUBSTR(x, 9, 8)) AS INT64)) AS lo\n" +
		"FROM h GROUP BY day ORDER BY day"
	tests := []struct {
		name, q, want string
	}{
		{name: "latest", q: "SELECT sku, _event_id FROM `proj.ds.events_latest` ORDER BY sku", want: "[[apple e4] [pear e3] [plum e5]]"},
		// The sums of the 32-bit halves of the ids' SHA-256 digests, as Python computes them.
		{name: "verify sums", q: sums, want: "[[2026-03-01 3 8697137842 9045892159] [2026-03-02 2 2282192553 5067651925]]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := e.bq.Query(tc.q)
			q.Parameters = []bigquery.QueryParameter{{Name: "since", Value: day0}, {Name: "until", Value: day0.Add(48 * time.Hour)}}
			rows, err := read(t, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(rows); got != tc.want {
				t.Errorf("rows\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestTranslation: GoogleSQL constructs of the supported subset give
// BigQuery's answers.
func TestTranslation(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Date(2026, 3, 5, 6, 7, 8, 0, time.UTC)}
	e := newEnv(t, bigquerytest.WithClock(c.now))
	tests := []struct {
		q, want string
	}{
		{q: "SELECT * REPLACE (x * 2 AS x) FROM (SELECT 1 AS x, 'a' AS y)", want: "[[2 a]]"},
		{q: "SELECT x FROM UNNEST([1, 2, 3]) AS x EXCEPT DISTINCT SELECT 2 ORDER BY 1", want: "[[1] [3]]"},
		{q: "SELECT x FROM UNNEST([1, 2, 3]) AS x INTERSECT DISTINCT SELECT x FROM UNNEST([3, 4]) AS x", want: "[[3]]"},
		{q: "SELECT x FROM UNNEST([1, 2, 3]) AS x UNION ALL SELECT 4 ORDER BY x DESC LIMIT 2 OFFSET 1", want: "[[3] [2]]"},
		{q: "SELECT DATE_TRUNC(DATE '2026-03-17', MONTH), EXTRACT(DAYOFWEEK FROM DATE '2026-03-01'), EXTRACT(HOUR FROM TIMESTAMP '2026-03-01 10:00:00+02')",
			want: "[[2026-03-01 1 8]]"},
		{q: "SELECT TIMESTAMP_ADD(TIMESTAMP '2026-03-01 00:00:00 UTC', INTERVAL 90 MINUTE), TIMESTAMP_DIFF(TIMESTAMP '2026-03-02 00:30:00', TIMESTAMP '2026-03-01 01:00:00', HOUR), DATE_DIFF(DATE '2026-03-01', DATE '2026-02-01', DAY), DATE_SUB(DATE '2026-03-01', INTERVAL 1 DAY)",
			want: "[[2026-03-01 01:30:00 +0000 UTC 23 28 2026-02-28]]"},
		{q: "SELECT UNIX_MICROS(TIMESTAMP '1970-01-01 00:00:01 UTC'), TIMESTAMP_MICROS(2000000), TIMESTAMP_SECONDS(86400), UNIX_DATE(DATE '1970-01-03')",
			want: "[[1000000 1970-01-01 00:00:02 +0000 UTC 1970-01-02 00:00:00 +0000 UTC 2]]"},
		{q: "SELECT CURRENT_TIMESTAMP(), CURRENT_DATE", want: "[[2026-03-05 06:07:08 +0000 UTC 2026-03-05]]"},
		{q: `SELECT JSON_VALUE(JSON '{"a": {"b": "c"}}', '$.a.b'), NUMERIC '1.25' * 2, SAFE_DIVIDE(1, 0), IF(1 > 0, 'y', 'n'), CONCAT('a', NULL), CONCAT('a', 'b')`,
			want: "[[c 5/2 <nil> y <nil> ab]]"},
		{q: "SELECT [10, 20, 30][SAFE_OFFSET(1)], [10, 20, 30][SAFE_ORDINAL(1)], [10][SAFE_OFFSET(5)]", want: "[[20 10 <nil>]]"},
		{q: "SELECT x, SUM(x) OVER w FROM UNNEST([1, 2, 3]) AS x WINDOW w AS (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) ORDER BY x",
			want: "[[1 1] [2 3] [3 5]]"},
		{q: "SELECT DATETIME '2026-03-01 10:11:12', TIME '10:11:12', CAST('2026-03-01' AS DATE), CAST(1.5 AS INT64), CAST(-2.5 AS INT64)",
			want: "[[2026-03-01T10:11:12 10:11:12 2026-03-01 2 -3]]"},
		{q: "SELECT COUNT(DISTINCT x), STRING_AGG(CAST(x AS STRING), ',' ORDER BY x), LOGICAL_AND(x > 0), ANY_VALUE(1) FROM UNNEST([1, 1, 2]) AS x",
			want: "[[2 1,1,2 true 1]]"},
		{q: "SELECT 1 AS a, 2, x + 1, COUNT(*) c FROM UNNEST([1]) AS x GROUP BY x", want: "[[1 2 2 1]]"},
		{q: "select lower('A') # a comment\n-- another\n/* and another */", want: "[[a]]"},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			t.Parallel()
			rows, err := read(t, e.bq.Query(tc.q))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(rows); got != tc.want {
				t.Errorf("rows\n got %s\nwant %s", got, tc.want)
			}
		})
	}

	it, err := e.bq.Query("SELECT 1 AS a, 2, x + 1, COUNT(*) c FROM UNNEST([1]) AS x GROUP BY x").Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range it.Schema {
		names = append(names, f.Name+":"+string(f.Type))
	}
	if got := strings.Join(names, " "); got != "a:INTEGER f0_:INTEGER f1_:INTEGER c:INTEGER" {
		t.Errorf("schema %s", got)
	}
}
