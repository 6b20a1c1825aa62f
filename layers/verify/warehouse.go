package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// DuckDB reads a local warehouse (sink/duckdb's tables).
func DuckDB(db *sql.DB) Warehouse { return duckDB{db} }

// DuckDBSums digests the distinct ids of a DuckDB table per UTC day of
// _event_time in [since, until) (restore uses it on its tables too).
func DuckDBSums(ctx context.Context, db *sql.DB, table string, since, until time.Time) (map[time.Time]Sum, error) {
	return duckDB{db}.DaySums(ctx, table, since, until)
}

type duckDB struct{ db *sql.DB }

func (d duckDB) exists(ctx context.Context, table string) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'main' AND table_name = ? AND table_type = 'BASE TABLE'`, table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("duckdb: %w", err)
	}
	return n > 0, nil
}

// duckDBSums is sumSQL in DuckDB: sha256 gives hex, and a '0x' string casts
// to an integer.
const duckDBSums = `WITH ids AS (
  SELECT DISTINCT _event_id AS id, strftime(timezone('UTC', _event_time), '%%Y-%%m-%%d') AS day
  FROM %s WHERE _event_time >= ? AND _event_time < ?),
h AS (SELECT day, sha256(id) AS x FROM ids)
SELECT day, count(*), sum(('0x' || substr(x, 1, 8))::BIGINT), sum(('0x' || substr(x, 9, 8))::BIGINT)
FROM h GROUP BY day`

func (d duckDB) DaySums(ctx context.Context, table string, since, until time.Time) (map[time.Time]Sum, error) {
	out := map[time.Time]Sum{}
	if ok, err := d.exists(ctx, table); err != nil || !ok {
		return out, err
	}
	rows, err := d.db.QueryContext(ctx, fmt.Sprintf(duckDBSums, ident(table)), since.UTC(), until.UTC())
	if err != nil {
		return nil, fmt.Errorf("duckdb: sums of %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var day string
		var n, hi, lo int64
		if err := rows.Scan(&day, &n, &hi, &lo); err != nil {
			return nil, fmt.Errorf("duckdb: sums of %s: %w", table, err)
		}
		t, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return nil, err
		}
		out[t] = halves(n, hi, lo)
	}
	return out, rows.Err()
}

func (d duckDB) DayIDs(ctx context.Context, table string, day time.Time) ([]string, error) {
	if ok, err := d.exists(ctx, table); err != nil || !ok {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, fmt.Sprintf("SELECT DISTINCT _event_id FROM %s WHERE _event_time >= ? AND _event_time < ?", ident(table)),
		day.UTC(), day.UTC().Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("duckdb: ids of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

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
	"  SELECT DISTINCT _event_id AS id, FORMAT_DATE('%%F', DATE(_event_time)) AS day\n" +
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
