package sourcebench_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" driver
)

// duckdbLoad loads the catalogue at path into a table of a fresh DuckDB
// database file in dir with DuckDB's own CSV reader, on all its threads, and
// returns the rows it loaded.
func duckdbLoad(ctx context.Context, dir, path string) (int64, error) {
	db, err := sql.Open("duckdb", filepath.Join(dir, "bench.duckdb"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE catalogue AS SELECT * FROM read_csv('%s', delim = ';', header = true, encoding = 'latin-1')`,
		strings.ReplaceAll(path, "'", "''"))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return 0, fmt.Errorf("duckdb read_csv: %w", err)
	}
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM catalogue`).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}
