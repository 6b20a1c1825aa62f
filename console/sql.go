package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SQL page limits.
const (
	sqlDefaultLimit = 100
	sqlMaxLimit     = 1000
	sqlMaxText      = 64 << 10
	sqlTimeout      = 30 * time.Second
)

var sqlLimits = []int{10, 100, 1000}

// sqlView is the SQL page's data.
type sqlView struct {
	Configured bool
	Dialect    string
	Query      string
	Limit      int
	Limits     []int
	Masked     bool // PII columns are masked for this viewer
	// Estimate: the bytes the query would scan, shown before it runs.
	Estimated bool
	Bytes     int64
	Err       string
	Result    *Result
	Took      time.Duration
}

func (s *Server) routesSQL(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"sql", s.sqlPage)
	mux.HandleFunc("POST "+prefix+"sql", s.sqlRun)
}

func (s *Server) sqlBase(r *http.Request) sqlView {
	v := sqlView{Configured: s.deps.Warehouse != nil, Limit: sqlDefaultLimit, Limits: sqlLimits, Masked: !viewerOf(r).MaySeePII}
	if v.Configured {
		v.Dialect = s.deps.Warehouse.Dialect()
	}
	return v
}

func (s *Server) sqlPage(w http.ResponseWriter, r *http.Request) {
	v := s.sqlBase(r)
	v.Query = r.URL.Query().Get("q")
	s.page(w, r, http.StatusOK, "sql", v)
}

// sqlRun estimates (BigQuery, before running) or runs a query.
func (s *Server) sqlRun(w http.ResponseWriter, r *http.Request) {
	v := s.sqlBase(r)
	v.Query = strings.TrimSpace(r.PostFormValue("q"))
	fail := func(status int, msg string) {
		v.Err = msg
		s.page(w, r, status, "sql", v)
	}
	if !v.Configured {
		fail(http.StatusServiceUnavailable, "Not configured: this console has no warehouse.")
		return
	}
	if l := r.PostFormValue("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > sqlMaxLimit {
			fail(http.StatusBadRequest, fmt.Sprintf("A row limit is a number from 1 to %d, not “%s”.", sqlMaxLimit, l))
			return
		}
		v.Limit = n
	}
	switch {
	case v.Query == "":
		fail(http.StatusBadRequest, "Write a query first.")
		return
	case len(v.Query) > sqlMaxText:
		fail(http.StatusBadRequest, fmt.Sprintf("The query is %d bytes; the console takes up to %d.", len(v.Query), sqlMaxText))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), sqlTimeout)
	defer cancel()
	wh := s.deps.Warehouse
	run := v.Query
	if v.Masked {
		if v.Dialect != "duckdb" {
			// VERIFY: BigQuery has no parser here to put masks under the
			// query; its PII stays with viewers who may see it.
			fail(http.StatusForbidden, "SQL over BigQuery shows stored values, PII included, so it is open only to viewers who may see PII. Ask for that role, or use the other pages, which mask PII.")
			return
		}
		pol, tables, err := s.masks.policy(ctx, s.deps.Registry, wh, s.cfg.now())
		if err != nil {
			s.sqlFailErr(w, r, v, err)
			return
		}
		if run, err = maskQuery(ctx, wh, v.Query, pol, tables); err != nil {
			s.sqlFailErr(w, r, v, err)
			return
		}
	}
	// Step one where the warehouse can tell: the bytes the query would
	// scan, and a button to run it.
	if r.PostFormValue("step") != "run" {
		bytes, ok, err := wh.Estimate(ctx, run)
		if err != nil {
			s.sqlFailErr(w, r, v, err)
			return
		}
		if ok {
			v.Estimated, v.Bytes = true, bytes
			s.page(w, r, http.StatusOK, "sql", v)
			return
		}
	}
	start := time.Now()
	res, err := wh.Query(ctx, run, v.Limit)
	if err != nil {
		s.sqlFailErr(w, r, v, err)
		return
	}
	v.Result, v.Took = res, time.Since(start)
	s.page(w, r, http.StatusOK, "sql", v)
}

// sqlFailErr shows why a query did not run, on the page with the query:
// the warehouse's own message for a query it refused (400), a timeout
// (503), or a failure of ours (500, logged).
func (s *Server) sqlFailErr(w http.ResponseWriter, r *http.Request, v sqlView, err error) {
	if r.Context().Err() != nil {
		return
	}
	var refused *errSQL
	switch {
	case errors.As(err, &refused):
		v.Err = refused.msg
		s.page(w, r, http.StatusBadRequest, "sql", v)
	case errors.Is(err, context.DeadlineExceeded):
		v.Err = fmt.Sprintf("The query ran longer than %v and was stopped; narrow it (a WHERE on the partition column, a LIMIT).", sqlTimeout)
		s.page(w, r, http.StatusServiceUnavailable, "sql", v)
	case statusCode(err) == http.StatusServiceUnavailable:
		v.Err = "The warehouse did not answer; try again in a moment."
		s.page(w, r, http.StatusServiceUnavailable, "sql", v)
	default:
		// A query the warehouse refused: its message says why.
		v.Err = warehouseMessage(err)
		s.page(w, r, http.StatusBadRequest, "sql", v)
	}
}

// warehouseMessage is err's text less the wrapping prefixes of our own
// layers, which say nothing to the person who wrote the query.
func warehouseMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"console: sql: ", "duckdb: ", "bigquery: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

// cell is a result value as the table shows it.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case []any, map[string]any:
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
