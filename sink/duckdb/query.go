package duckdb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"time"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"
)

// Result is the outcome of a query.
type Result struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// maxRows bounds what one query returns, so a careless SELECT * cannot
// exhaust memory.
const maxRows = 100_000

// Query runs a read or write statement and returns at most 100 000 rows,
// with values made JSON-friendly (times in RFC 3339, decimals and
// intervals as strings, blobs in base64).
func (w *Warehouse) Query(ctx context.Context, query string) (*Result, error) {
	rows, err := w.db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	for rows.Next() && len(res.Rows) < maxRows {
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

// QueryHandler serves POST /v1/sql: {"query": "..."} answered with a Result
// as JSON, or {"error": "..."} and status 400. "hem dev" mounts it so that
// "hem sql" can query the warehouse the dev process owns.
func (w *Warehouse) QueryHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var req struct {
			Query string `json:"query"`
		}
		rw.Header().Set("Content-Type", "application/json")
		if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20)).Decode(&req); err != nil || req.Query == "" {
			rw.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(rw).Encode(map[string]string{"error": `the body must be {"query": "..."}`})
			return
		}
		res, err := w.Query(r.Context(), req.Query)
		if err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(rw).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(rw).Encode(res)
	})
}
