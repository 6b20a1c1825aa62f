package wiring

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/sink/duckdb"
)

// DuckDBWarehouse is the console's warehouse in hem dev: read-only queries
// on the warehouse hem dev owns, through the same sandboxed, read-only path
// as hem sql's /v1/sql (duckdb.Warehouse.Select).
type DuckDBWarehouse struct {
	w *duckdb.Warehouse
}

var _ console.Warehouse = (*DuckDBWarehouse)(nil)

// NewDuckDBWarehouse serves w to the console; the caller keeps owning w.
func NewDuckDBWarehouse(w *duckdb.Warehouse) *DuckDBWarehouse { return &DuckDBWarehouse{w: w} }

// Query implements console.Warehouse.
func (d *DuckDBWarehouse) Query(ctx context.Context, q string, limit int, args ...any) (*console.Result, error) {
	res, err := d.w.Select(ctx, q, limit, args...)
	if err != nil {
		return nil, err
	}
	return &console.Result{Columns: res.Columns, Rows: res.Rows, Truncated: res.Truncated}, nil
}

// Estimate implements console.Warehouse: DuckDB cannot tell before running.
func (d *DuckDBWarehouse) Estimate(context.Context, string) (int64, bool, error) {
	return 0, false, nil
}

// Dialect implements console.Warehouse.
func (d *DuckDBWarehouse) Dialect() string { return "duckdb" }

// Table implements console.Warehouse: a double-quoted identifier.
func (d *DuckDBWarehouse) Table(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// BigQueryWarehouseConfig is where the console's production warehouse is.
type BigQueryWarehouseConfig struct {
	// Project runs (and is billed for) the queries and holds Dataset.
	Project string
	// Dataset holds the event tables; unqualified table names resolve in
	// it.
	Dataset string
	// FailedDataset holds _failed_events when it is not Dataset (as in
	// terraform: PREFIX_failed beside PREFIX_events).
	FailedDataset string
	// MaxBytesBilled makes BigQuery refuse a query that would scan more;
	// 0 is no cap.
	MaxBytesBilled int64
	// Endpoint overrides the REST endpoint (tests, BigQuery-compatible
	// servers); http:// endpoints get no credentials.
	Endpoint string
}

// BigQueryWarehouse is the console's warehouse in production: read-only
// because the console's service account holds only dataViewer on the
// dataset (and jobUser on the project), and estimated with a dry run.
type BigQueryWarehouse struct {
	c   *bigquery.Client
	cfg BigQueryWarehouseConfig
}

var _ console.Warehouse = (*BigQueryWarehouse)(nil)

// NewBigQueryWarehouse opens a BigQuery client for cfg. Close it.
func NewBigQueryWarehouse(ctx context.Context, cfg BigQueryWarehouseConfig) (*BigQueryWarehouse, error) {
	if cfg.Project == "" || cfg.Dataset == "" {
		return nil, errors.New("console warehouse: bigquery: a project and a dataset are required")
	}
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
		if strings.HasPrefix(cfg.Endpoint, "http://") {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	c, err := bigquery.NewClient(ctx, cfg.Project, opts...)
	if err != nil {
		return nil, fmt.Errorf("console warehouse: bigquery: %w", err)
	}
	return &BigQueryWarehouse{c: c, cfg: cfg}, nil
}

// Close closes the client.
func (b *BigQueryWarehouse) Close() error { return b.c.Close() }

func (b *BigQueryWarehouse) query(q string, args []any) *bigquery.Query {
	query := b.c.Query(q)
	query.DefaultProjectID = b.cfg.Project
	query.DefaultDatasetID = b.cfg.Dataset
	query.MaxBytesBilled = b.cfg.MaxBytesBilled
	for _, a := range args {
		query.Parameters = append(query.Parameters, bigquery.QueryParameter{Value: a})
	}
	return query
}

// Query implements console.Warehouse: positional parameters are ? in the
// query, and values come back JSON-friendly as DuckDB's do (times in RFC
// 3339, NUMERIC as decimal text, BYTES in base64, RECORDs as maps).
func (b *BigQueryWarehouse) Query(ctx context.Context, q string, limit int, args ...any) (*console.Result, error) {
	it, err := b.query(q, args).Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("bigquery: %w", err)
	}
	res := &console.Result{Rows: [][]any{}}
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bigquery: %w", err)
		}
		if len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		out := make([]any, len(row))
		for i, v := range row {
			var f *bigquery.FieldSchema
			if i < len(it.Schema) {
				f = it.Schema[i]
			}
			out[i] = bigQueryPlain(v, f)
		}
		res.Rows = append(res.Rows, out)
	}
	for _, f := range it.Schema {
		res.Columns = append(res.Columns, f.Name)
	}
	return res, nil
}

// Estimate implements console.Warehouse with a dry run: BigQuery plans the
// query (checking it, too) and says how many bytes it would scan.
func (b *BigQueryWarehouse) Estimate(ctx context.Context, q string) (int64, bool, error) {
	query := b.query(q, nil)
	query.DryRun = true
	job, err := query.Run(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("bigquery: %w", err)
	}
	st := job.LastStatus()
	if st == nil || st.Statistics == nil {
		return 0, false, nil
	}
	if err := st.Err(); err != nil {
		return 0, false, fmt.Errorf("bigquery: %w", err)
	}
	return st.Statistics.TotalBytesProcessed, true, nil
}

// Dialect implements console.Warehouse.
func (b *BigQueryWarehouse) Dialect() string { return "bigquery" }

// Table implements console.Warehouse: `project.dataset.table`, the failed
// dataset for _failed_events when there is one.
func (b *BigQueryWarehouse) Table(name string) string {
	ds := b.cfg.Dataset
	if name == failedTable && b.cfg.FailedDataset != "" {
		ds = b.cfg.FailedDataset
	}
	return "`" + b.cfg.Project + "." + ds + "." + strings.ReplaceAll(name, "`", "") + "`"
}

// failedTable is the failed sink's table.
const failedTable = "_failed_events"

// bigQueryPlain turns the client's values into the JSON-friendly ones the
// DuckDB warehouse returns, so pages treat both alike.
func bigQueryPlain(v bigquery.Value, f *bigquery.FieldSchema) any {
	switch v := v.(type) {
	case nil:
		return nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case civil.Date, civil.Time, civil.DateTime:
		return fmt.Sprint(v)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case *big.Rat:
		return ratString(v)
	case []bigquery.Value:
		if f != nil && f.Type == bigquery.RecordFieldType && !f.Repeated {
			return record(v, f.Schema)
		}
		elem := f
		if f != nil && f.Repeated {
			c := *f
			c.Repeated = false
			elem = &c
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = bigQueryPlain(x, elem)
		}
		return out
	}
	return v
}

func record(v []bigquery.Value, schema bigquery.Schema) map[string]any {
	out := make(map[string]any, len(v))
	for i, x := range v {
		if i < len(schema) {
			out[schema[i].Name] = bigQueryPlain(x, schema[i])
		}
	}
	return out
}

// ratString is a NUMERIC or BIGNUMERIC as exact decimal text, without
// trailing zeros.
func ratString(r *big.Rat) string {
	s := r.FloatString(38)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
