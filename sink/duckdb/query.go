package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"
)

// Result is the outcome of a query.
type Result struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
	// Truncated: the query had more rows than it could return.
	Truncated bool `json:"truncated,omitempty"`
}

// maxRows bounds what one query returns, so a careless SELECT * cannot
// exhaust memory.
const maxRows = 100_000

// errNotReadOnly refuses a statement that could change something.
var errNotReadOnly = errors.New("duckdb: only one SELECT (or EXPLAIN) statement runs here: queries are read-only")

// WithSandbox locks the database down for queries from someone else: files
// are read only under dirs (none when there are none; the database's own
// files and temporary folder stay usable), never written outside them,
// never fetched from the network, no extension is installed or loaded, and
// the configuration is locked so no statement can undo it. A relative
// directory is allowed both as given (DuckDB compares paths as written,
// relative to the working directory) and as an absolute path. The writer
// is unaffected: it touches only the database's files.
func WithSandbox(dirs ...string) Option {
	return optionFunc(func(c *config) { c.sandbox = append([]string{}, dirs...) })
}

// lockDown applies WithSandbox. The settings are global to the database,
// so every connection of the pool gets them.
func lockDown(ctx context.Context, db *sql.DB, dirs []string) error {
	var allowed []string
	for _, d := range dirs {
		d = filepath.Clean(d)
		allowed = append(allowed, sqlString(d+string(filepath.Separator)))
		if !filepath.IsAbs(d) {
			abs, err := filepath.Abs(d)
			if err != nil {
				return fmt.Errorf("duckdb: sandbox: %w", err)
			}
			allowed = append(allowed, sqlString(abs+string(filepath.Separator)))
		}
	}
	var stmts []string
	if len(allowed) > 0 {
		stmts = append(stmts, "SET GLOBAL allowed_directories = ["+strings.Join(allowed, ", ")+"]")
	}
	stmts = append(stmts,
		"SET GLOBAL enable_external_access = false",
		"SET GLOBAL autoinstall_known_extensions = false",
		"SET GLOBAL autoload_known_extensions = false",
		"SET GLOBAL lock_configuration = true")
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("duckdb: sandbox: %s: %w", q, err)
		}
	}
	return nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Query runs one read-only statement (a SELECT, or EXPLAIN of one) and
// returns at most 100 000 rows, with values made JSON-friendly (times in
// RFC 3339, decimals and intervals as strings, blobs in base64, NaN and
// infinities as the strings "NaN", "Infinity" and "-Infinity").
//
// Read-only is enforced twice: the statement's type is checked before it
// runs (so no INSERT, UPDATE, DELETE, DROP, COPY, ATTACH, INSTALL, LOAD,
// SET, PRAGMA or CALL, and never two statements), and it runs inside a
// READ ONLY transaction, where DuckDB refuses any write. What files it may
// read is the database's sandbox (WithSandbox).
func (w *Warehouse) Query(ctx context.Context, query string) (*Result, error) {
	return w.Select(ctx, query, maxRows)
}

// Select is Query with positional arguments ($1 or ?) and at most limit
// rows (at most 100 000; limit <= 0 is 100 000); Result.Truncated says
// when there were more.
func (w *Warehouse) Select(ctx context.Context, query string, limit int, args ...any) (*Result, error) {
	if limit <= 0 || limit > maxRows {
		limit = maxRows
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	defer conn.Close()
	if err := checkReadOnly(conn, query); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			// A connection still in a transaction must not serve the writer.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return scan(ctx, conn, query, limit, args)
}

// checkReadOnly prepares query, which parses and binds it without running
// it, and refuses it unless it is one SELECT or EXPLAIN. The driver's
// Prepare (not PrepareContext, which runs every statement but the last)
// refuses several statements.
func checkReadOnly(conn *sql.Conn, query string) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdbdriver.Conn)
		if !ok {
			return fmt.Errorf("duckdb: unexpected driver connection %T", dc)
		}
		st, err := c.Prepare(query)
		if err != nil {
			if strings.Contains(err.Error(), "multi-statement") {
				return errNotReadOnly
			}
			return fmt.Errorf("duckdb: %w", err)
		}
		defer st.Close()
		stmt, ok := st.(*duckdbdriver.Stmt)
		if !ok {
			return fmt.Errorf("duckdb: unexpected driver statement %T", st)
		}
		t, err := stmt.StatementType()
		if err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		if t != duckdbdriver.STATEMENT_TYPE_SELECT && t != duckdbdriver.STATEMENT_TYPE_EXPLAIN {
			return errNotReadOnly
		}
		return nil
	})
}

func scan(ctx context.Context, conn *sql.Conn, query string, limit int, args []any) (*Result, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		if len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("duckdb: %w", err)
		}
		for i, v := range vals {
			vals[i] = plain(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	return res, nil
}

// plain turns DuckDB's Go values into JSON-friendly ones.
func plain(v any) any {
	switch v := v.(type) {
	case float64:
		return float(v)
	case float32:
		return float(float64(v))
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case duckdbdriver.Decimal:
		if v.Value == nil {
			return nil
		}
		return decimalString(v)
	case *big.Int:
		return v.String()
	case duckdbdriver.Interval:
		return (time.Duration(v.Micros)*time.Microsecond + time.Duration(v.Days)*24*time.Hour).String()
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	case duckdbdriver.Map:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = plain(x)
		}
		return out
	}
	return v
}

// float spells NaN and the infinities as strings, as protojson and
// BigQuery's JSON API do: JSON has no number for them.
func float(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

func decimalString(d duckdbdriver.Decimal) string {
	s := d.Value.String()
	if d.Scale == 0 {
		return s
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	for len(s) <= int(d.Scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(d.Scale)] + "." + s[len(s)-int(d.Scale):]
	if neg {
		s = "-" + s
	}
	return s
}

// QueryHandler serves POST /v1/sql: {"query": "..."} (Content-Type
// application/json, anything else is 415) answered with a Result as JSON,
// or {"error": "..."} and status 400 (403 for a statement that is not
// read-only or a file outside the sandbox). The answer is encoded whole before anything is sent, so a
// failure is an error status, never a 200 with a cut body. "hem dev"
// mounts it, behind its key and loopback checks, so that "hem sql" can
// query the warehouse the dev process owns.
func (w *Warehouse) QueryHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(rw, http.StatusUnsupportedMediaType, `the body must be application/json: {"query": "..."}`)
			return
		}
		var req struct {
			Query string `json:"query"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20)).Decode(&req); err != nil || req.Query == "" {
			writeError(rw, http.StatusBadRequest, `the body must be {"query": "..."}`)
			return
		}
		res, err := w.Query(r.Context(), req.Query)
		if err != nil {
			status := http.StatusBadRequest
			var de *duckdbdriver.Error
			if errors.Is(err, errNotReadOnly) || (errors.As(err, &de) && de.Type == duckdbdriver.ErrorTypePermission) {
				status = http.StatusForbidden
			}
			writeError(rw, status, err.Error())
			return
		}
		b, err := json.Marshal(res)
		if err != nil {
			writeError(rw, http.StatusInternalServerError, fmt.Sprintf("duckdb: encoding the result: %v", err))
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(append(b, '\n'))
	})
}

func writeError(rw http.ResponseWriter, status int, msg string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]string{"error": msg})
}
