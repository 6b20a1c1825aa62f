package duckdb_test

import (
	"fmt"
	"testing"
)

// Select is what the console's pages run: arguments bound by position, a
// row limit that says when it cut, and the same read-only check as Query.
func TestSelectArgsAndLimit(t *testing.T) {
	t.Parallel()
	w, _, _ := sandboxed(t)
	tests := []struct {
		name      string
		query     string
		limit     int
		args      []any
		want      string
		truncated bool
		err       bool
	}{
		{name: "argument", query: "select v from t where id = ?", limit: 10, args: []any{2}, want: "[[b]]"},
		{name: "numbered arguments", query: "select v from t where id between $1 and $2 order by id", limit: 10, args: []any{1, 2}, want: "[[a] [b]]"},
		{name: "under the limit", query: "select id from t order by id", limit: 3, want: "[[1] [2] [3]]"},
		{name: "over the limit", query: "select id from t order by id", limit: 2, want: "[[1] [2]]", truncated: true},
		{name: "still read-only", query: "delete from t where id = ?", limit: 10, args: []any{1}, err: true},
		{name: "missing argument", query: "select v from t where id = ?", limit: 10, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := w.Select(t.Context(), tt.query, tt.limit, tt.args...)
			if tt.err {
				if err == nil {
					t.Fatalf("%s: no error", tt.query)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Rows); got != tt.want || res.Truncated != tt.truncated {
				t.Errorf("%s: %s truncated=%v, want %s truncated=%v", tt.query, got, res.Truncated, tt.want, tt.truncated)
			}
		})
	}
	// Nothing was deleted.
	res, err := w.Query(t.Context(), "select count(*) from t")
	if err != nil || fmt.Sprint(res.Rows) != "[[3]]" {
		t.Fatalf("after the refused delete: %v %v", res, err)
	}
}
