package bigquerytest

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// The bytes a query processes are estimated as BigQuery bills them: the
// logical size of the columns it reads, over the rows of the partitions
// it reads. Which columns and which filters reach each table comes from
// DuckDB's optimized plan (projection and filter pushdown stand in for
// BigQuery's column pruning and partition pruning): a column counts when
// the plan's scan of the table projects it or filters on it; when a
// table's partitioning column is compared with constants in the scan's
// filters, only the partitions those bounds select count. Anything else
// (a filter on DATE(column), an IN list, OR) counts every partition, so
// the estimate errs high, never low.

// planNode is a node of DuckDB's EXPLAIN (FORMAT JSON).
type planNode struct {
	Name     string         `json:"name"`
	Children []planNode     `json:"children"`
	Extra    map[string]any `json:"extra_info"`
}

// scanUse is what the plan reads of one table.
type scanUse struct {
	cols    map[string]bool // lower-case column names
	all     bool            // some scan reads every partition
	bounds  []timeBounds    // partition bounds of the scans that have them
	scanned bool
}

type timeBounds struct {
	lo, hi       time.Time
	hasLo, hasHi bool
	loIncl       bool
	hiIncl       bool
}

func (s *Server) estimateLocked(ctx context.Context, e *engine, tr *translator, duck string) (int64, error) {
	if len(tr.tables) == 0 {
		return 0, nil
	}
	rows, err := e.conn.QueryContext(ctx, "EXPLAIN (FORMAT JSON) "+duck)
	if err != nil {
		return 0, err
	}
	var plan string
	for rows.Next() {
		var key string
		if err := rows.Scan(&key, &plan); err != nil {
			rows.Close()
			return 0, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var nodes []planNode
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
		return 0, err
	}
	byName := map[string]*scanTable{}
	for _, st := range tr.tables {
		byName[st.name] = st
	}
	uses := map[*scanTable]*scanUse{}
	var walk func(n planNode)
	walk = func(n planNode) {
		for _, c := range n.Children {
			walk(c)
		}
		name, _ := n.Extra["Table"].(string)
		st := byName[planTable(name)]
		if st == nil {
			return
		}
		u := uses[st]
		if u == nil {
			u = &scanUse{cols: map[string]bool{}}
			uses[st] = u
		}
		u.scanned = true
		fields := st.t.current().fields
		for _, p := range lines(n.Extra["Projections"]) {
			col, _, _ := strings.Cut(strings.Trim(p, `"`), ".")
			u.cols[strings.ToLower(col)] = true
		}
		filters := lines(n.Extra["Filters"])
		for _, f := range filters {
			for _, c := range fields {
				if mentions(f, c.Name) {
					u.cols[strings.ToLower(c.Name)] = true
				}
			}
		}
		if b, ok := partitionBounds(st.t, filters); ok {
			u.bounds = append(u.bounds, b)
		} else {
			u.all = true
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	var total int64
	for st, u := range uses {
		total += scanBytes(st.t, e.copies[st.t], u)
	}
	return total, nil
}

// planTable is the bare table name of a plan's "Table" member: DuckDB 1.4
// gives bq_1, 1.5 qualifies it as memory.main.bq_1 (quoting parts that
// need it). The fake's DuckDB names (bq_N) hold no dots or quotes.
func planTable(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Trim(s, `"`)
}

// lines reads a plan member that is a string (lines separated by
// newlines) or a list of strings.
func lines(v any) []string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return strings.Split(x, "\n")
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, strings.Split(s, "\n")...)
			}
		}
		return out
	}
	return nil
}

// mentions reports whether a filter text names a column, outside quotes.
func mentions(filter, col string) bool {
	var b strings.Builder
	in := false
	for _, r := range filter {
		if r == '\'' {
			in = !in
			continue
		}
		if !in {
			b.WriteRune(r)
		}
	}
	re := regexp.MustCompile(`(?i)(^|[^\w])"?` + regexp.QuoteMeta(col) + `"?($|[^\w])`)
	return re.MatchString(b.String())
}

var boundPattern = regexp.MustCompile(`^"?(\w+)"?\s*(>=|<=|>|<|=)\s*'([^']*)'::(TIMESTAMP WITH TIME ZONE|DATE|TIMESTAMP)$`)

// partitionBounds reads bounds on a table's partitioning column from a
// scan's filters: conjunctions of comparisons with constants.
func partitionBounds(t *table, filters []string) (timeBounds, bool) {
	tp, _ := t.doc["timePartitioning"].(object)
	col, _ := tp["field"].(string)
	if col == "" {
		return timeBounds{}, false
	}
	var b timeBounds
	found := false
	for _, f := range filters {
		if !mentions(f, col) {
			continue
		}
		if strings.Contains(strings.ToUpper(f), " OR ") {
			continue
		}
		for _, term := range strings.Split(f, " AND ") {
			m := boundPattern.FindStringSubmatch(strings.TrimSpace(term))
			if m == nil || !strings.EqualFold(m[1], col) {
				continue
			}
			v, ok := parsePlanTime(m[3], m[4])
			if !ok {
				continue
			}
			found = true
			switch m[2] {
			case ">=", ">":
				if !b.hasLo || v.After(b.lo) {
					b.lo, b.hasLo, b.loIncl = v, true, m[2] == ">="
				}
			case "<=", "<":
				if !b.hasHi || v.Before(b.hi) {
					b.hi, b.hasHi, b.hiIncl = v, true, m[2] == "<="
				}
			case "=":
				b.lo, b.hi, b.hasLo, b.hasHi, b.loIncl, b.hiIncl = v, v, true, true, true, true
			}
		}
	}
	return b, found
}

func parsePlanTime(s, typ string) (time.Time, bool) {
	layouts := []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05-07"}
	switch typ {
	case "DATE":
		layouts = []string{"2006-01-02"}
	case "TIMESTAMP":
		layouts = []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05"}
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// selects reports whether a partition [start, end) may hold a value
// within the bounds.
func (b timeBounds) selects(start, end time.Time) bool {
	if b.hasLo && !end.After(b.lo) {
		return false
	}
	if b.hasHi && (start.After(b.hi) || !b.hiIncl && !start.Before(b.hi)) {
		return false
	}
	return true
}

// scanBytes sums the sizes of the read columns over the read partitions.
func scanBytes(t *table, c *tableCopy, u *scanUse) int64 {
	tp, _ := t.doc["timePartitioning"].(object)
	col, typ := str(tp["field"]), str(tp["type"])
	var total int64
	for part, cols := range c.sizes {
		if !u.all && col != "" {
			if part.IsZero() {
				continue // NULL partition: no bound selects it
			}
			_, end := partitionRange(part, typ)
			sel := false
			for _, b := range u.bounds {
				if b.selects(part, end) {
					sel = true
					break
				}
			}
			if !sel {
				continue
			}
		}
		for name, n := range cols {
			if u.cols[name] {
				total += n
			}
		}
	}
	return total
}

// partitionTime is a row's partitioning column value as a time.
func partitionTime(row map[string]any, fields []*field, col string) (time.Time, bool) {
	f := lookup(fields, col)
	if f == nil {
		return time.Time{}, false
	}
	switch v := row[f.Name].(type) {
	case time.Time:
		return v.UTC(), true
	case string: // DATETIME
		if t, err := time.Parse("2006-01-02T15:04:05.999999", v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// partitionRange is the partition of a time, by partitioning type.
func partitionRange(v time.Time, typ string) (time.Time, time.Time) {
	v = v.UTC()
	switch typ {
	case "HOUR":
		s := v.Truncate(time.Hour)
		return s, s.Add(time.Hour)
	case "MONTH":
		s := time.Date(v.Year(), v.Month(), 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(0, 1, 0)
	case "YEAR":
		s := time.Date(v.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(1, 0, 0)
	}
	s := time.Date(v.Year(), v.Month(), v.Day(), 0, 0, 0, 0, time.UTC)
	return s, s.AddDate(0, 0, 1)
}

// valueBytes is BigQuery's logical size of a value: NULL is 0; INT64,
// FLOAT64, TIMESTAMP, DATE, TIME and DATETIME 8; BOOL 1; STRING, BYTES
// and JSON 2 plus their length; NUMERIC 16, BIGNUMERIC 32, INTERVAL 16;
// a RECORD the sum of its fields; a REPEATED column the sum of its
// elements.
func valueBytes(v any, f *field) int64 {
	if v == nil {
		return 0
	}
	if f.repeated() {
		list, _ := v.([]any)
		one := *f
		one.Mode = modeNullable
		var n int64
		for _, e := range list {
			n += valueBytes(e, &one)
		}
		return n
	}
	switch f.Type {
	case typeInteger, typeFloat, typeTimestamp, typeDate, typeTime, typeDatetime:
		return 8
	case typeBoolean:
		return 1
	case typeNumeric, typeInterval:
		return 16
	case typeBignumeric:
		return 32
	case typeRecord:
		m, _ := v.(map[string]any)
		var n int64
		for _, sf := range f.Fields {
			n += valueBytes(m[sf.Name], sf)
		}
		return n
	case typeBytes:
		b, _ := v.([]byte)
		return 2 + int64(len(b))
	}
	s, _ := v.(string)
	return 2 + int64(len(s))
}
