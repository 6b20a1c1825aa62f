package rollup

import (
	"fmt"
	"strings"
	"time"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// dialect is what differs between DuckDB's SQL and BigQuery's GoogleSQL in
// a rollup's queries.
type dialect interface {
	// ident quotes one identifier.
	ident(name string) string
	// timestamp is a TIMESTAMP literal of t (UTC).
	timestamp(t time.Time) string
	// floor is the start of the UTC bucket of size (an hour or a day)
	// holding the TIMESTAMP expression x.
	floor(x string, size time.Duration) string
	// sum is SUM(x) typed as the column it lands in.
	sum(x string, t contract.Type) string
	// distinct counts the distinct values of x (AGGREGATE_APPROX_COUNT_DISTINCT).
	distinct(x string) string
}

// column is a dotted source column path, quoted part by part.
func column(d dialect, dotted string) string {
	parts := strings.Split(dotted, ".")
	for i, p := range parts {
		parts[i] = d.ident(p)
	}
	return strings.Join(parts, ".")
}

// arrival is when a source row reached the pipeline: the publish time,
// else the collector's receive time.
func arrival(d dialect) string {
	return fmt.Sprintf("COALESCE(%s, %s)", d.ident(contract.ColPublishedAt), d.ident(contract.ColReceivedAt))
}

// measure is the SQL of one measure.
func measure(d dialect, m contract.RollupMeasure) string {
	if m.SQL != "" {
		return m.SQL
	}
	switch m.Aggregate {
	case optionsv1.Aggregate_AGGREGATE_COUNT:
		return "COUNT(*)"
	case optionsv1.Aggregate_AGGREGATE_SUM:
		return d.sum(column(d, m.Of), m.Type)
	case optionsv1.Aggregate_AGGREGATE_MIN:
		return "MIN(" + column(d, m.Of) + ")"
	case optionsv1.Aggregate_AGGREGATE_MAX:
		return "MAX(" + column(d, m.Of) + ")"
	case optionsv1.Aggregate_AGGREGATE_APPROX_COUNT_DISTINCT:
		return d.distinct(column(d, m.Of))
	}
	return "NULL"
}

// selectSQL is the query computing the rollup's rows from source, whose
// rows are one per event id, for the buckets whose time falls in
// [from, to) and, when days is not empty, on one of those days. Its columns
// are the rollup table's, in table order (see columns).
func selectSQL(d dialect, j *Job, source string, from, to time.Time, days []time.Time) string {
	r := j.Rollup
	byName := map[string]string{r.Bucket: d.floor(column(d, r.TimeColumn), r.BucketSize())}
	for _, dim := range r.Dimensions {
		byName[dim.Column] = column(d, dim.Source)
	}
	for _, m := range r.Measures {
		byName[m.Column] = measure(d, m)
	}
	var sel, group []string
	groups := 1 + len(r.Dimensions)
	n := 0
	// Grouping columns first, so GROUP BY can name them by position.
	for _, c := range groupOrder(j) {
		sel = append(sel, byName[c]+" AS "+d.ident(c))
		n++
		if n <= groups {
			group = append(group, fmt.Sprint(n))
		}
	}
	t := column(d, r.TimeColumn)
	where := fmt.Sprintf("%s >= %s AND %s < %s", t, d.timestamp(from), t, d.timestamp(to))
	if len(days) > 0 {
		lits := make([]string, len(days))
		for i, dd := range days {
			lits[i] = d.timestamp(dd)
		}
		where += fmt.Sprintf(" AND %s IN (%s)", d.floor(t, 24*time.Hour), strings.Join(lits, ", "))
	}
	return fmt.Sprintf("SELECT %s\nFROM %s\nWHERE %s\nGROUP BY %s", strings.Join(sel, ", "), source, where, strings.Join(group, ", "))
}

// groupOrder lists the rollup's columns as selectSQL selects them: the
// bucket, the dimensions, then the measures.
func groupOrder(j *Job) []string {
	r := j.Rollup
	out := []string{r.Bucket}
	for _, dim := range r.Dimensions {
		out = append(out, dim.Column)
	}
	for _, m := range r.Measures {
		out = append(out, m.Column)
	}
	return out
}

// touchedSQL lists the days holding buckets of rows that arrived after
// since (every day, when since is zero), with the latest arrival of each.
func touchedSQL(d dialect, j *Job, source string, since time.Time) string {
	t := column(d, j.Rollup.TimeColumn)
	where := t + " IS NOT NULL"
	if !since.IsZero() {
		where += fmt.Sprintf(" AND %s > %s", arrival(d), d.timestamp(since))
	}
	return fmt.Sprintf("SELECT %s AS d, MAX(%s) AS arrived\nFROM %s\nWHERE %s\nGROUP BY 1", d.floor(t, 24*time.Hour), arrival(d), source, where)
}
