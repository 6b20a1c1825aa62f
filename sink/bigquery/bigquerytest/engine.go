package bigquerytest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	duckdb "github.com/duckdb/duckdb-go/v2"
)

// engine runs translated queries on an in-process DuckDB. The tables a
// query reads are copied into it for the query and dropped after, so the
// fake's rows (what the Storage Write API stored) stay the one truth.
// The server's write lock serializes its use.
type engine struct {
	db     *sql.DB
	conn   *sql.Conn
	copies map[*table]*tableCopy
}

// tableCopy is a table's DuckDB copy: made for the table's version and
// number of unexpired rows, with the logical sizes of its columns per
// partition for the bytes estimate.
type tableCopy struct {
	version uint64
	live    int
	sizes   map[time.Time]map[string]int64 // partition start (zero: NULL or none) → lower-case column → bytes
}

func openEngine(ctx context.Context) (*engine, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("bigquerytest: open duckdb: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bigquerytest: open duckdb: %w", err)
	}
	// BigQuery sorts NULLs first ascending and last descending, and its
	// TIMESTAMPs are instants, printed in UTC.
	for _, q := range []string{"SET default_null_order = 'nulls_first_on_asc_last_on_desc'", "SET TimeZone = 'UTC'"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			_ = conn.Close()
			_ = db.Close()
			return nil, fmt.Errorf("bigquerytest: set up duckdb: %w", err)
		}
	}
	return &engine{db: db, conn: conn, copies: map[*table]*tableCopy{}}, nil
}

func (e *engine) close() {
	_ = e.conn.Close()
	_ = e.db.Close()
}

// engineLocked opens the engine on first use.
func (s *Server) engineLocked(ctx context.Context) (*engine, error) {
	if s.engine == nil {
		e, err := openEngine(ctx)
		if err != nil {
			return nil, err
		}
		s.engine = e
	}
	return s.engine, nil
}

// duckNameLocked is the name of a table's DuckDB copy.
func (s *Server) duckNameLocked(t *table) string {
	if s.duckNames == nil {
		s.duckNames = map[*table]string{}
	}
	n := s.duckNames[t]
	if n == "" {
		n = fmt.Sprintf("bq_%d", s.nextSerialLocked())
		s.duckNames[t] = n
	}
	return n
}

// ensure makes the DuckDB copy of a table unless the one there is
// current.
func (e *engine) ensure(ctx context.Context, st *scanTable, live []map[string]any) error {
	t := st.t
	if c := e.copies[t]; c != nil && c.version == t.version && c.live == len(live) {
		return nil
	}
	delete(e.copies, t)
	fields := t.current().fields
	if err := e.load(ctx, st.name, fields, live); err != nil {
		return err
	}
	e.copies[t] = &tableCopy{version: t.version, live: len(live), sizes: columnSizes(t, fields, live)}
	return nil
}

// forget drops the record of a table's copy, so the next query makes it
// again.
func (e *engine) forget(t *table) { delete(e.copies, t) }

// columnSizes sums the logical bytes of each column per partition.
func columnSizes(t *table, fields []*field, rows []map[string]any) map[time.Time]map[string]int64 {
	tp, _ := t.doc["timePartitioning"].(object)
	col, typ := str(tp["field"]), str(tp["type"])
	out := map[time.Time]map[string]int64{}
	for _, r := range rows {
		row := projectRow(r, fields)
		var part time.Time
		if col != "" {
			if v, ok := partitionTime(row, fields, col); ok {
				part, _ = partitionRange(v, typ)
			}
		}
		m := out[part]
		if m == nil {
			m = map[string]int64{}
			out[part] = m
		}
		for _, f := range fields {
			m[strings.ToLower(f.Name)] += valueBytes(row[f.Name], f)
		}
	}
	return out
}

// duckType is the DuckDB column type for a BigQuery column.
func duckType(f *field) (string, error) {
	var t string
	switch f.Type {
	case typeString:
		t = "VARCHAR"
	case typeBytes:
		t = "BLOB"
	case typeInteger:
		t = "BIGINT"
	case typeFloat:
		t = "DOUBLE"
	case typeBoolean:
		t = "BOOLEAN"
	case typeTimestamp:
		t = "TIMESTAMPTZ"
	case typeDate:
		t = "DATE"
	case typeTime:
		t = "TIME"
	case typeDatetime:
		t = "TIMESTAMP"
	case typeNumeric:
		t = "DECIMAL(38,9)"
	case typeJSON:
		t = "JSON"
	case typeRecord:
		parts := make([]string, len(f.Fields))
		for i, sf := range f.Fields {
			st, err := duckType(sf)
			if err != nil {
				return "", err
			}
			parts[i] = quoteIdent(sf.Name) + " " + st
		}
		t = "STRUCT(" + strings.Join(parts, ", ") + ")"
	default:
		return "", fmt.Errorf("column %s of type %s", f.Name, f.Type)
	}
	if f.repeated() {
		t += "[]"
	}
	return t, nil
}

// load copies rows into a new DuckDB table name with the columns fields.
func (e *engine) load(ctx context.Context, name string, fields []*field, rows []map[string]any) error {
	cols := make([]string, len(fields))
	for i, f := range fields {
		t, err := duckType(f)
		if err != nil {
			return err
		}
		cols[i] = quoteIdent(f.Name) + " " + t
	}
	if len(cols) == 0 {
		return errors.New("a table without columns")
	}
	if _, err := e.conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s (%s)", quoteIdent(name), strings.Join(cols, ", "))); err != nil {
		return err
	}
	return e.conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), "", "main", name)
		if err != nil {
			return err
		}
		vals := make([]driver.Value, len(fields))
		for _, r := range rows {
			row := projectRow(r, fields)
			for i, f := range fields {
				v, err := toDuck(row[f.Name], f)
				if err != nil {
					app.Close()
					return err
				}
				vals[i] = v
			}
			if err := app.AppendRow(vals...); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
}

// toDuck converts a stored value to what the appender takes.
func toDuck(v any, f *field) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.repeated() {
		list, _ := v.([]any)
		out := make([]any, len(list))
		one := *f
		one.Mode = modeNullable
		for i, e := range list {
			d, err := toDuck(e, &one)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	}
	switch f.Type {
	case typeRecord:
		m, _ := v.(map[string]any)
		out := make(map[string]any, len(f.Fields))
		for _, sf := range f.Fields {
			d, err := toDuck(m[sf.Name], sf)
			if err != nil {
				return nil, err
			}
			out[sf.Name] = d
		}
		return out, nil
	case typeNumeric:
		s, _ := v.(string)
		n, err := scaled(s, 9)
		if err != nil {
			return nil, err
		}
		return duckdb.Decimal{Width: 38, Scale: 9, Value: n}, nil
	case typeTime:
		t, err := civil.ParseTime(v.(string))
		if err != nil {
			return nil, err
		}
		return time.Date(1970, 1, 1, t.Hour, t.Minute, t.Second, t.Nanosecond, time.UTC), nil
	case typeDatetime:
		d, err := civil.ParseDateTime(v.(string))
		if err != nil {
			return nil, err
		}
		return d.In(time.UTC), nil
	}
	return v, nil
}

// scaled parses decimal text as an integer of 10^-scale units.
func scaled(s string, scale int) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("invalid decimal %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() {
		return nil, fmt.Errorf("decimal %q has more than %d digits after the point", s, scale)
	}
	return r.Num(), nil
}

// result is a query's output in the fake's row form.
type result struct {
	fields []*field
	rows   []map[string]any
}

// query runs DuckDB SQL and converts its output.
func (e *engine) query(ctx context.Context, q string) (*result, error) {
	rows, err := e.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &result{fields: make([]*field, len(cols))}
	for i, c := range cols {
		f, err := fieldOfDuck(c.Name(), c.DatabaseTypeName())
		if err != nil {
			return nil, err
		}
		res.fields[i] = f
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]any, len(cols))
		for i, f := range res.fields {
			v, err := fromDuck(vals[i], f)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", f.Name, err)
			}
			row[f.Name] = v
		}
		res.rows = append(res.rows, row)
	}
	return res, rows.Err()
}

// fieldOfDuck maps a DuckDB result type back to a BigQuery column.
func fieldOfDuck(name, typ string) (*field, error) {
	f := &field{Name: name, Mode: modeNullable}
	if strings.HasSuffix(typ, "[]") {
		inner, err := fieldOfDuck(name, strings.TrimSuffix(typ, "[]"))
		if err != nil {
			return nil, err
		}
		if inner.repeated() {
			return nil, errors.New("Cannot write array of arrays") //nolint:staticcheck // BigQuery's wording.
		}
		inner.Mode = modeRepeated
		return inner, nil
	}
	switch {
	case strings.HasPrefix(typ, "STRUCT("):
		f.Type = typeRecord
		members, err := structMembers(strings.TrimSuffix(strings.TrimPrefix(typ, "STRUCT("), ")"))
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			sf, err := fieldOfDuck(m[0], m[1])
			if err != nil {
				return nil, err
			}
			f.Fields = append(f.Fields, sf)
		}
		return f, nil
	case strings.HasPrefix(typ, "DECIMAL"):
		f.Type = typeNumeric
		return f, nil
	}
	switch typ {
	case "VARCHAR", "UUID":
		f.Type = typeString
	case "BLOB":
		f.Type = typeBytes
	case "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "UHUGEINT", "NULL", `"NULL"`:
		f.Type = typeInteger
	case "DOUBLE", "FLOAT":
		f.Type = typeFloat
	case "BOOLEAN":
		f.Type = typeBoolean
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		f.Type = typeTimestamp
	case "TIMESTAMP":
		f.Type = typeDatetime
	case "DATE":
		f.Type = typeDate
	case "TIME":
		f.Type = typeTime
	case "JSON":
		f.Type = typeJSON
	default:
		return nil, fmt.Errorf("bigquerytest: unsupported: result column %s of DuckDB type %s", name, typ)
	}
	return f, nil
}

// structMembers splits `"a" VARCHAR, "b" STRUCT(...)` into name/type pairs.
func structMembers(s string) ([][2]string, error) {
	var out [][2]string
	depth, start := 0, 0
	inQuote := false
	split := func(part string) error {
		part = strings.TrimSpace(part)
		var name, rest string
		if strings.HasPrefix(part, `"`) {
			end := 1
			for end < len(part) {
				if part[end] == '"' {
					if end+1 < len(part) && part[end+1] == '"' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			name, rest = strings.ReplaceAll(part[1:end], `""`, `"`), part[end+1:]
		} else {
			var ok bool
			name, rest, ok = strings.Cut(part, " ")
			if !ok {
				return fmt.Errorf("bad struct member %q", part)
			}
		}
		out = append(out, [2]string{name, strings.TrimSpace(rest)})
		return nil
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			if err := split(s[start:i]); err != nil {
				return nil, err
			}
			start = i + 1
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		if err := split(s[start:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var maxInt64 = big.NewInt(1<<63 - 1)

// fromDuck converts a scanned DuckDB value to the fake's row form.
func fromDuck(v any, f *field) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.repeated() {
		list, _ := v.([]any)
		out := make([]any, 0, len(list))
		one := *f
		one.Mode = modeNullable
		for _, e := range list {
			if e == nil {
				return nil, errors.New("Array cannot have a null element") //nolint:staticcheck // BigQuery's wording.
			}
			d, err := fromDuck(e, &one)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(f.Fields))
		for _, sf := range f.Fields {
			d, err := fromDuck(x[sf.Name], sf)
			if err != nil {
				return nil, err
			}
			out[sf.Name] = d
		}
		return out, nil
	case *big.Int:
		if x.CmpAbs(maxInt64) > 0 && !(x.Sign() < 0 && new(big.Int).Neg(x).Cmp(new(big.Int).Add(maxInt64, big.NewInt(1))) == 0) {
			return nil, fmt.Errorf("Int64 overflow: %s", x) //nolint:staticcheck // BigQuery's wording.
		}
		return x.Int64(), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint64:
		if x > 1<<63-1 {
			return nil, fmt.Errorf("Int64 overflow: %d", x) //nolint:staticcheck // BigQuery's wording.
		}
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case duckdb.Decimal:
		return decimalText(x)
	case time.Time:
		switch f.Type {
		case typeDate:
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), nil
		case typeTime:
			return formatTime(civil.TimeOf(x)), nil
		case typeDatetime:
			return formatDatetime(civil.DateTimeOf(x)), nil
		}
		return x.UTC(), nil
	case duckdb.UUID:
		return x.String(), nil
	case []byte:
		if f.Type == typeString {
			return string(x), nil
		}
		return x, nil
	case string:
		if f.Type == typeJSON {
			return x, nil
		}
		return x, nil
	case float64, bool:
		return x, nil
	}
	return nil, fmt.Errorf("bigquerytest: unsupported: DuckDB value %T", v)
}

// decimalText renders a DuckDB decimal as NUMERIC text, refusing what
// NUMERIC cannot hold.
func decimalText(d duckdb.Decimal) (any, error) {
	r := new(big.Rat).SetFrac(d.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil))
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(9), nil)
	n := roundScaled(r, pow)
	if n.CmpAbs(maxNumeric) > 0 {
		return nil, fmt.Errorf("numeric overflow: %s", d.String())
	}
	return formatScaled(n, 9), nil
}

// duckError maps a DuckDB error to BigQuery's shape: an unknown column is
// "Unrecognized name", a missing aggregate the GROUP BY message, other
// binder and parser errors invalidQuery.
func (tr *translator) duckError(err error) *apiError {
	msg := err.Error()
	if m := unknownColumn.FindStringSubmatch(msg); m != nil {
		return errInvalidQuery("Unrecognized name: %s at %s", m[1], tr.position(m[1]))
	}
	if m := notGrouped.FindStringSubmatch(msg); m != nil {
		return errInvalidQuery("SELECT list expression references column %s which is neither grouped nor aggregated at %s", m[1], tr.position(m[1]))
	}
	head, _, _ := strings.Cut(msg, "\n")
	switch {
	case strings.HasPrefix(head, "Parser Error"):
		return errInvalidQuery("Syntax error: %s", strings.TrimPrefix(head, "Parser Error: "))
	case strings.HasPrefix(head, "Invalid Input Error"), strings.HasPrefix(head, "Conversion Error"), strings.HasPrefix(head, "Out of Range Error"):
		return errInvalidQuery("%s", head)
	}
	return errInvalidQuery("bigquerytest: duckdb: %s", head)
}

var (
	unknownColumn = regexp.MustCompile(`Referenced column "([^"]+)" not found`)
	notGrouped    = regexp.MustCompile(`column "([^"]+)" must appear in the GROUP BY clause`)
)

// position is where a name first appears in the query, as [line:column].
func (tr *translator) position(name string) string {
	toks, err := lex(tr.query)
	if err == nil {
		for _, t := range toks {
			if (t.kind == tokIdent || t.kind == tokQuoted) && strings.EqualFold(t.text, name) {
				return lineCol(tr.query, t.pos)
			}
		}
	}
	return "[1:1]"
}
