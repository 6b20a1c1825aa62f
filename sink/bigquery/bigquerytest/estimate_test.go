package bigquerytest

import "testing"

// TestPlanTable: the estimate finds the fake's tables in the plans of
// both DuckDB 1.4 (bare names) and 1.5 (catalog- and schema-qualified).
func TestPlanTable(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{in: "bq_1", want: "bq_1"},
		{in: "memory.main.bq_12", want: "bq_12"},
		{in: `memory.main."bq_3"`, want: "bq_3"},
		{in: "", want: ""},
	}
	for _, tc := range tests {
		if got := planTable(tc.in); got != tc.want {
			t.Errorf("planTable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
