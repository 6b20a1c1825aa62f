package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/sink/duckdb"
)

// DuckDBQuerier runs one read-only query on a DuckDB warehouse:
// *duckdb.Warehouse, or hem dev's /v1/sql endpoint.
type DuckDBQuerier interface {
	Query(ctx context.Context, query string) (*duckdb.Result, error)
}

var _ DuckDBQuerier = (*duckdb.Warehouse)(nil)

// DuckDB reads a local warehouse (sink/duckdb's tables).
func DuckDB(q DuckDBQuerier) Warehouse { return duckDB{q} }

// DuckDBSums digests the distinct ids of a DuckDB table per UTC day of
// _event_time in [since, until) (restore uses it on its tables too).
func DuckDBSums(ctx context.Context, q DuckDBQuerier, table string, since, until time.Time) (map[time.Time]Sum, error) {
	return duckDB{q}.DaySums(ctx, table, since, until)
}

type duckDB struct{ q DuckDBQuerier }

// query runs a query whose values are all text (a count through JSON
// would lose digits as a float).
func (d duckDB) query(ctx context.Context, query string) ([][]string, error) {
	res, err := d.q.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	if res.Truncated {
		return nil, errors.New("duckdb: too many rows for one query")
	}
	out := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("duckdb: value %v: want text", v)
			}
			out[i][j] = s
		}
	}
	return out, nil
}

func (d duckDB) exists(ctx context.Context, table string) (bool, error) {
	rows, err := d.query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'main' AND table_type = 'BASE TABLE' AND table_name = `+literal(table))
	if err != nil {
		return false, fmt.Errorf("duckdb: %w", err)
	}
	return len(rows) > 0, nil
}

// duckDBSums is the Sum in DuckDB: sha256 gives hex, and a '0x' string
// casts to an integer.
const duckDBSums = `WITH ids AS (
  SELECT DISTINCT _event_id AS id, strftime(timezone('UTC', _event_time), '%%Y-%%m-%%d') AS day
  FROM %s WHERE _event_time >= %s AND _event_time < %s),
h AS (SELECT day, sha256(id) AS x FROM ids)
SELECT day, count(*)::VARCHAR, sum(('0x' || substr(x, 1, 8))::BIGINT)::VARCHAR, sum(('0x' || substr(x, 9, 8))::BIGINT)::VARCHAR
FROM h GROUP BY day`

func timeLiteral(t time.Time) string {
	return "TIMESTAMPTZ " + literal(t.UTC().Format("2006-01-02 15:04:05.999999+00"))
}

func (d duckDB) DaySums(ctx context.Context, table string, since, until time.Time) (map[time.Time]Sum, error) {
	out := map[time.Time]Sum{}
	if ok, err := d.exists(ctx, table); err != nil || !ok {
		return out, err
	}
	rows, err := d.query(ctx, fmt.Sprintf(duckDBSums, ident(table), timeLiteral(since), timeLiteral(until)))
	if err != nil {
		return nil, fmt.Errorf("duckdb: sums of %s: %w", table, err)
	}
	for _, r := range rows {
		day, err := time.Parse(time.DateOnly, r[0])
		if err != nil {
			return nil, err
		}
		var n [3]int64
		for i := range n {
			if n[i], err = strconv.ParseInt(r[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("duckdb: sums of %s: %w", table, err)
			}
		}
		out[day] = halves(n[0], n[1], n[2])
	}
	return out, nil
}

func (d duckDB) DayIDs(ctx context.Context, table string, day time.Time) ([]string, error) {
	if ok, err := d.exists(ctx, table); err != nil || !ok {
		return nil, err
	}
	rows, err := d.query(ctx, fmt.Sprintf("SELECT DISTINCT _event_id FROM %s WHERE _event_time >= %s AND _event_time < %s",
		ident(table), timeLiteral(day), timeLiteral(day.Add(24*time.Hour))))
	if err != nil {
		return nil, fmt.Errorf("duckdb: ids of %s: %w", table, err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out, nil
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// BigQuery reads the tables of a BigQuery dataset with query jobs.
func BigQuery(client *bigquery.Client, dataset string) Warehouse {
	return bigQuery{client: client, dataset: dataset}
}

// BigQuerySums digests the distinct ids of a BigQuery table per UTC day of
// _event_time in [since, until) (restore uses it on its tables too).
func BigQuerySums(ctx context.Context, client *bigquery.Client, dataset, table string, since, until time.Time) (map[time.Time]Sum, error) {
	return bigQuery{client: client, dataset: dataset}.DaySums(ctx, table, since, until)
}

type bigQuery struct {
	client  *bigquery.Client
	dataset string
}

// bigQuerySums is sumSQL in BigQuery: SHA256 gives bytes, TO_HEX their hex,
// and a '0x' string casts to INT64. DISTINCT because BigQuery tables are
// at least once.
const bigQuerySums = "WITH ids AS (\n" +
	"  SELECT DISTINCT _event_id AS id, CAST(DATE(_event_time) AS STRING) AS day\n" +
	"  FROM `%s.%s.%s` WHERE _event_time >= @since AND _event_time < @until),\n" +
	"h AS (SELECT day, TO_HEX(SHA256(id)) AS x FROM ids)\n" +
	"SELECT day, COUNT(*) AS n, SUM(CAST(CONCAT('0x', SUBSTR(x, 1, 8)) AS INT64)) AS hi, SUM(CAST(CONCAT('0x', SUBSTR(x, 9, 8)) AS INT64)) AS lo\n" +
	"FROM h GROUP BY day"

func (b bigQuery) query(ctx context.Context, sql string, params ...bigquery.QueryParameter) (*bigquery.RowIterator, bool, error) {
	q := b.client.Query(sql)
	q.Parameters = params
	it, err := q.Read(ctx)
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusNotFound {
		return nil, false, nil // no table: no ids
	}
	if err != nil {
		return nil, false, err
	}
	return it, true, nil
}

func (b bigQuery) DaySums(ctx context.Context, table string, since, until time.Time) (map[time.Time]Sum, error) {
	out := map[time.Time]Sum{}
	it, ok, err := b.query(ctx, fmt.Sprintf(bigQuerySums, b.client.Project(), b.dataset, table),
		bigquery.QueryParameter{Name: "since", Value: since.UTC()}, bigquery.QueryParameter{Name: "until", Value: until.UTC()})
	if err != nil {
		return nil, fmt.Errorf("bigquery: sums of %s: %w", table, err)
	}
	if !ok {
		return out, nil
	}
	for {
		var row struct {
			Day       string `bigquery:"day"`
			N, Hi, Lo int64
		}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bigquery: sums of %s: %w", table, err)
		}
		t, err := time.Parse(time.DateOnly, row.Day)
		if err != nil {
			return nil, err
		}
		out[t] = halves(row.N, row.Hi, row.Lo)
	}
}

func (b bigQuery) DayIDs(ctx context.Context, table string, day time.Time) ([]string, error) {
	it, ok, err := b.query(ctx,
		fmt.Sprintf("SELECT DISTINCT _event_id AS id FROM `%s.%s.%s` WHERE _event_time >= @since AND _event_time < @until", b.client.Project(), b.dataset, table),
		bigquery.QueryParameter{Name: "since", Value: day.UTC()}, bigquery.QueryParameter{Name: "until", Value: day.UTC().Add(24 * time.Hour)})
	if err != nil || !ok {
		return nil, err
	}
	var out []string
	for {
		var row struct {
			ID string `bigquery:"id"`
		}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bigquery: ids of %s: %w", table, err)
		}
		out = append(out, row.ID)
	}
}
