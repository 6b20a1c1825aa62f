package bigquerytest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The fake runs GoogleSQL on DuckDB through a small, explicit translation:
// a token rewriter that knows the GoogleSQL hem generates. Table names
// become the DuckDB tables a query's base tables are copied into, views
// are inlined (their SQL is translated too), functions are taken from an
// allowlist with a rule each, and everything else fails with invalidQuery
// naming what is unsupported, so that a query never silently gives other
// results than BigQuery's. doc.go lists the subset.

// keywords are GoogleSQL reserved words (and the non-reserved ones the
// translation cares about) that are written through unquoted.
var keywords = setOf("ALL", "AND", "ANY", "ARRAY", "AS", "ASC", "BETWEEN", "BY", "CASE", "CROSS", "CUBE",
	"CURRENT", "DEFAULT", "DESC", "DISTINCT", "ELSE", "END", "EXCEPT", "EXISTS", "FALSE", "FIRST", "FOLLOWING",
	"FROM", "FULL", "GROUP", "GROUPING", "HAVING", "IGNORE", "IN", "INNER", "INTERSECT", "INTERVAL", "INTO", "IS", "JOIN",
	"LAST", "LEFT", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER",
	"PARTITION", "PRECEDING", "QUALIFY", "RANGE", "RECURSIVE", "RESPECT", "RIGHT", "ROLLUP", "ROW", "ROWS", "SELECT", "SETS",
	"STRUCT", "THEN", "TRUE", "UNBOUNDED", "UNION", "UNNEST", "USING", "WHEN", "WHERE", "WINDOW", "WITH",
	"INSERT", "DELETE", "UPDATE", "SET", "VALUES", "REPLACE")

// unsupportedWords are GoogleSQL features the fake refuses.
var unsupportedWords = setOf("PIVOT", "UNPIVOT", "TABLESAMPLE", "FOR", "MERGE", "CREATE", "DROP", "ALTER",
	"DECLARE", "BEGIN", "CALL", "EXPORT", "LOAD", "ASSERT", "COLLATE", "ESCAPE", "LATERAL", "TRUNCATE", "EXECUTE", "IF NOT")

// clauseEnds end a FROM clause at the same nesting level.
var clauseEnds = setOf("WHERE", "GROUP", "HAVING", "QUALIFY", "WINDOW", "ORDER", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "SELECT", "ON", "USING", "SET")

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

func upper(t token) string { return strings.ToUpper(t.text) }

// scanTable is a base table a query reads, and the DuckDB table it is
// copied into.
type scanTable struct {
	t    *table
	name string
}

// translator turns one GoogleSQL statement into DuckDB SQL. It resolves
// table names against the server (whose lock the caller holds).
type translator struct {
	s       *Server
	query   string // the source, for [line:column] positions
	project string // a dataset.table name is in this project
	dataset string // the default dataset, or ""
	now     time.Time
	params  map[string]string // by upper-case name: DuckDB literals
	posArgs []string
	nextArg int
	tables  map[tableRef]*scanTable // shared with translators of views
	ctes    map[string]bool
	views   int        // nesting of views being inlined
	last    *scanTable // the base table the last tableRef named
}

func (tr *translator) unsupported(t token, what string, args ...any) *apiError {
	return errInvalidQuery("bigquerytest: unsupported: %s at %s", fmt.Sprintf(what, args...), lineCol(tr.query, t.pos))
}

// statement translates a whole query; anonymous columns of its outermost
// SELECT are named f0_, f1_, … as BigQuery names them.
func (tr *translator) statement(q string) (string, *apiError) {
	toks, err := lex(q)
	if err != nil {
		return "", err
	}
	for i, t := range toks {
		if t.op(";") {
			if i != len(toks)-1 {
				return "", tr.unsupported(t, "scripts (more than one statement)")
			}
			toks = toks[:i]
		}
	}
	if len(toks) == 0 {
		return "", errInvalidQuery("Syntax error: Unexpected end of script at [1:1]")
	}
	tr.findCTEs(toks)
	return tr.emit(toks, true)
}

// findCTEs records the names WITH clauses define, so that they are not
// taken for tables of the default dataset.
func (tr *translator) findCTEs(toks []token) {
	if tr.ctes == nil {
		tr.ctes = map[string]bool{}
	}
	for j := 1; j+2 < len(toks); j++ {
		if toks[j].kind != tokIdent && toks[j].kind != tokQuoted || !toks[j+1].is("AS") || !toks[j+2].op("(") {
			continue
		}
		p := toks[j-1]
		if p.is("WITH") || p.is("RECURSIVE") || (p.op(",") && j >= 2 && toks[j-2].op(")")) {
			tr.ctes[strings.ToLower(toks[j].text)] = true
		}
	}
}

// frame is the state of one parenthesis level.
type frame struct {
	inFrom      bool // between FROM and the end of the FROM clause
	expectTable bool // the next token starts a table expression
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// emit translates a token sequence. top marks the statement level, where
// the first SELECT's anonymous columns are named.
func (tr *translator) emit(toks []token, top bool) (string, *apiError) {
	var b strings.Builder
	w := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	stack := []frame{{}}
	selectDone := !top
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		f := &stack[len(stack)-1]
		u := upper(t)
		next := func(k int) token {
			if i+k < len(toks) {
				return toks[i+k]
			}
			return token{kind: tokOp, text: "", pos: len(tr.query)}
		}
		if t.kind == tokIdent && unsupportedWords[u] {
			return "", tr.unsupported(t, "%s", u)
		}
		if f.expectTable {
			f.expectTable = false
			switch {
			case t.is("UNNEST"):
				s, n, err := tr.unnest(toks, i)
				if err != nil {
					return "", err
				}
				w(s)
				i = n - 1
				continue
			case t.kind == tokQuoted || t.kind == tokIdent && !keywords[u]:
				s, n, err := tr.tableRef(toks, i)
				if err != nil {
					return "", err
				}
				w(s)
				i = n - 1
				continue
			}
		}
		switch {
		case t.op("("):
			stack = append(stack, frame{})
			w("(")
		case t.op(")"):
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			w(")")
		case t.op(","):
			if f.inFrom {
				f.expectTable = true
			}
			w(",")
		case t.op("*") && next(1).is("EXCEPT") && next(2).op("("):
			w("* EXCLUDE")
			i++
		case t.is("SELECT") && !selectDone && len(stack) == 1:
			selectDone = true
			s, n, err := tr.selectList(toks, i)
			if err != nil {
				return "", err
			}
			w(s)
			i = n - 1
		case t.is("FROM") || t.is("JOIN"):
			f.inFrom, f.expectTable = true, true
			w(u)
		case t.kind == tokIdent && clauseEnds[u]:
			f.inFrom = false
			w(u)
			if t.is("SELECT") && next(1).is("AS") {
				return "", tr.unsupported(t, "SELECT AS STRUCT / VALUE")
			}
		case t.is("IN") && next(1).is("UNNEST") && next(2).op("("):
			end := matchParen(toks, i+2)
			if end < 0 {
				return "", tr.syntax(next(2))
			}
			inner, err := tr.emit(toks[i+3:end], false)
			if err != nil {
				return "", err
			}
			w("IN (SELECT UNNEST(" + inner + "))")
			i = end
		case t.is("INTERVAL"):
			s, n, err := tr.interval(toks, i)
			if err != nil {
				return "", err
			}
			w(s)
			i = n - 1
		case t.is("ARRAY") || t.is("STRUCT"):
			return "", tr.unsupported(t, "%s constructors", u)
		case t.is("WITH") && next(1).is("OFFSET"):
			return "", tr.unsupported(t, "UNNEST WITH OFFSET")
		case t.kind == tokIdent && keywords[u]:
			w(u)
		case t.kind == tokIdent && (u == "CURRENT_TIMESTAMP" || u == "CURRENT_DATE" || u == "CURRENT_DATETIME" || u == "CURRENT_TIME"):
			if next(1).op("(") && next(2).op(")") {
				i += 2
			}
			s, err := tr.current(t)
			if err != nil {
				return "", err
			}
			w(s)
		case t.kind == tokIdent && next(1).op("(") && !toks[max(i-1, 0)].op("."):
			s, n, err := tr.call(toks, i)
			if err != nil {
				return "", err
			}
			w(s)
			i = n - 1
		case t.kind == tokIdent && next(1).kind == tokString && typedLiteral[u] != "":
			w(fmt.Sprintf("CAST(%s AS %s)", quoteString(next(1).text), typedLiteral[u]))
			i++
		case t.kind == tokIdent || t.kind == tokQuoted:
			if strings.HasPrefix(u, "_PARTITION") && t.kind == tokIdent {
				return "", tr.unsupported(t, "pseudo column %s", t.text)
			}
			if t.kind == tokQuoted && strings.Contains(t.text, ".") {
				return "", tr.unsupported(t, "table name `%s` outside FROM", t.text)
			}
			w(quoteIdent(t.text))
		case t.kind == tokString:
			w(quoteString(t.text))
		case t.kind == tokBytes:
			w(bytesLiteral([]byte(t.text)))
		case t.kind == tokNumber:
			s, err := tr.number(t)
			if err != nil {
				return "", err
			}
			w(s)
		case t.kind == tokParam:
			v, ok := tr.params[strings.ToUpper(t.text)]
			if !ok {
				return "", errInvalidQuery("Query parameter '%s' not found at %s", t.text, lineCol(tr.query, t.pos))
			}
			w(v)
		case t.kind == tokPositional:
			if tr.nextArg >= len(tr.posArgs) {
				return "", errInvalidQuery("Number of positional query parameters is less than the number of ? placeholders at %s", lineCol(tr.query, t.pos))
			}
			w(tr.posArgs[tr.nextArg])
			tr.nextArg++
		case t.op("{") || t.op("}") || t.op("=>") || t.op(":"):
			return "", tr.unsupported(t, "%q", t.text)
		case t.op("."):
			// Field access: no spaces around the dot.
			s := strings.TrimRight(b.String(), " ")
			b.Reset()
			b.WriteString(s + ".")
			if i+1 < len(toks) {
				n := toks[i+1]
				if n.kind == tokIdent || n.kind == tokQuoted {
					b.WriteString(quoteIdent(n.text))
					i++
				} else if n.op("*") {
					b.WriteString("*")
					i++
				}
			}
		case t.op("[") && i > 0 && (toks[i-1].kind == tokIdent && !keywords[upper(toks[i-1])] || toks[i-1].kind == tokQuoted || toks[i-1].op(")") || toks[i-1].op("]")):
			s, n, err := tr.subscript(toks, i)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			i = n - 1
		default:
			w(t.text)
		}
	}
	return b.String(), nil
}

func (tr *translator) syntax(t token) *apiError {
	if t.text == "" {
		return errInvalidQuery("Syntax error: Unexpected end of script at %s", lineCol(tr.query, t.pos))
	}
	return errInvalidQuery("Syntax error: Unexpected %q at %s", t.text, lineCol(tr.query, t.pos))
}

// typedLiteral maps the types of GoogleSQL's typed literals (DATE '…') to
// DuckDB's.
var typedLiteral = map[string]string{
	"DATE": "DATE", "TIMESTAMP": "TIMESTAMPTZ", "DATETIME": "TIMESTAMP", "TIME": "TIME",
	"NUMERIC": "DECIMAL(38,9)", "DECIMAL": "DECIMAL(38,9)", "JSON": "JSON",
}

func bytesLiteral(b []byte) string { return fmt.Sprintf("unhex('%x')", b) }

// number keeps integers as they are (DuckDB widens them as needed) and
// makes other numbers FLOAT64, as GoogleSQL types them (DuckDB would read
// 1.5 as a DECIMAL).
func (tr *translator) number(t token) (string, *apiError) {
	s := t.text
	if strings.HasPrefix(strings.ToLower(s), "0x") {
		n, err := strconv.ParseInt(s[2:], 16, 64)
		if err != nil {
			return "", errInvalidQuery("Invalid hex integer literal: %s at %s", s, lineCol(tr.query, t.pos))
		}
		return strconv.FormatInt(n, 10), nil
	}
	if strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "", errInvalidQuery("Syntax error: Invalid floating point literal: %s at %s", s, lineCol(tr.query, t.pos))
		}
		return "CAST(" + s + " AS DOUBLE)", nil
	}
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return "", errInvalidQuery("Invalid integer literal: %s at %s", s, lineCol(tr.query, t.pos))
	}
	return s, nil
}

func (tr *translator) current(t token) (string, *apiError) {
	switch upper(t) {
	case "CURRENT_TIMESTAMP":
		return timestampLiteral(tr.now), nil
	case "CURRENT_DATE":
		return "DATE '" + tr.now.UTC().Format("2006-01-02") + "'", nil
	}
	return "", tr.unsupported(t, "%s", upper(t))
}

func timestampLiteral(t time.Time) string {
	return "CAST('" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00' AS TIMESTAMPTZ)"
}

// matchParen returns the index of the parenthesis closing the one at open,
// or -1.
func matchParen(toks []token, open int) int {
	depth := 0
	for j := open; j < len(toks); j++ {
		switch {
		case toks[j].op("(") || toks[j].op("["):
			depth++
		case toks[j].op(")") || toks[j].op("]"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// splitTop splits tokens at top-level commas.
func splitTop(toks []token) [][]token {
	var out [][]token
	depth, start := 0, 0
	for j, t := range toks {
		switch {
		case t.op("(") || t.op("["):
			depth++
		case t.op(")") || t.op("]"):
			depth--
		case t.op(",") && depth == 0:
			out = append(out, toks[start:j])
			start = j + 1
		}
	}
	if len(toks) > 0 {
		out = append(out, toks[start:])
	}
	return out
}

// selectEnds end a SELECT list.
var selectEnds = setOf("FROM", "WHERE", "GROUP", "HAVING", "QUALIFY", "WINDOW", "ORDER", "LIMIT", "UNION", "INTERSECT", "EXCEPT")

// selectList translates the outermost SELECT and its list, naming
// anonymous columns f0_, f1_, … as BigQuery does. It returns the text and
// the index after the list.
func (tr *translator) selectList(toks []token, i int) (string, int, *apiError) {
	out := "SELECT"
	j := i + 1
	for j < len(toks) && (toks[j].is("DISTINCT") || toks[j].is("ALL")) {
		out += " " + upper(toks[j])
		j++
	}
	if j < len(toks) && toks[j].is("AS") {
		return "", 0, tr.unsupported(toks[j], "SELECT AS STRUCT / VALUE")
	}
	end, depth := j, 0
	for ; end < len(toks); end++ {
		t := toks[end]
		switch {
		case t.op("(") || t.op("["):
			depth++
		case t.op(")") || t.op("]"):
			depth--
		}
		if depth < 0 || depth == 0 && t.kind == tokIdent && selectEnds[upper(t)] && !(t.is("EXCEPT") && end > 0 && toks[end-1].op("*")) {
			break
		}
	}
	anon := 0
	for k, item := range splitTop(toks[j:end]) {
		if len(item) == 0 {
			return "", 0, tr.syntax(toks[end-1])
		}
		s, err := tr.emit(item, false)
		if err != nil {
			return "", 0, err
		}
		if !named(item) {
			s += fmt.Sprintf(" AS f%d_", anon)
			anon++
		}
		if k > 0 {
			out += ","
		}
		out += " " + s
	}
	return out, end, nil
}

// named reports whether a SELECT item has a name in BigQuery: an alias, a
// column or field path, or a star.
func named(item []token) bool {
	n := len(item)
	last := item[n-1]
	if last.op("*") || item[0].op("*") {
		return true
	}
	for _, t := range item {
		if t.op("*") {
			return true // t.* and * EXCEPT (…)
		}
	}
	if n >= 2 && item[n-2].is("AS") {
		return true
	}
	path := true
	for k, t := range item {
		if k%2 == 0 && !(t.kind == tokQuoted || t.kind == tokIdent && !keywords[upper(t)]) || k%2 == 1 && !t.op(".") {
			path = false
		}
	}
	if path && n%2 == 1 {
		return true
	}
	// An implicit alias: an expression followed by a name.
	if n >= 2 && (last.kind == tokQuoted || last.kind == tokIdent && !keywords[upper(last)]) {
		p := item[n-2]
		return p.op(")") || p.op("]") || p.kind == tokNumber || p.kind == tokString || p.kind == tokQuoted ||
			p.kind == tokIdent && (!keywords[upper(p)] || p.is("END") || p.is("NULL") || p.is("TRUE") || p.is("FALSE"))
	}
	return false
}

// tableRef translates a table name in a FROM clause, with its alias: a
// base table becomes the DuckDB table it is copied into, a view its
// translated query, a WITH name itself. It returns the index after it.
func (tr *translator) tableRef(toks []token, i int) (string, int, *apiError) {
	start := toks[i]
	var parts []string
	j := i
	for j < len(toks) {
		t := toks[j]
		if t.kind != tokQuoted && t.kind != tokIdent {
			break
		}
		if t.kind == tokQuoted {
			parts = append(parts, strings.Split(t.text, ".")...)
		} else {
			parts = append(parts, t.text)
		}
		j++
		// project ids may have dashes unquoted: my-project.ds.t
		for j+1 < len(toks) && toks[j].op("-") && (toks[j+1].kind == tokIdent || toks[j+1].kind == tokNumber) && toks[j+1].pos == toks[j].pos+1 {
			parts[len(parts)-1] += "-" + toks[j+1].text
			j += 2
		}
		if j+1 < len(toks) && toks[j].op(".") && (toks[j+1].kind == tokQuoted || toks[j+1].kind == tokIdent) {
			j++
			continue
		}
		break
	}
	name := strings.Join(parts, ".")
	var out string
	last := parts[len(parts)-1]
	switch {
	case len(parts) == 1 && tr.ctes[strings.ToLower(parts[0])]:
		out = quoteIdent(parts[0])
	case strings.Contains(strings.ToUpper(name), "INFORMATION_SCHEMA"):
		return "", 0, tr.unsupported(start, "INFORMATION_SCHEMA")
	case strings.HasSuffix(last, "*"):
		return "", 0, tr.unsupported(start, "wildcard tables")
	case len(parts) > 3:
		return "", 0, errInvalidQuery("Invalid table name: %s at %s", name, lineCol(tr.query, start.pos))
	default:
		ref := tableRef{project: tr.project}
		switch len(parts) {
		case 1:
			if tr.dataset == "" {
				return "", 0, &apiError{code: 400, reason: "invalid", message: fmt.Sprintf("Table name \"%s\" missing dataset while no default dataset is set in the request.", name)}
			}
			ref.project, ref.dataset = splitDataset(tr.dataset, tr.project)
			ref.table = parts[0]
		case 2:
			ref.dataset, ref.table = parts[0], parts[1]
		case 3:
			ref.project, ref.dataset, ref.table = parts[0], parts[1], parts[2]
		}
		s, err := tr.source(ref, start)
		if err != nil {
			return "", 0, err
		}
		out = s
	}
	// The alias, or the table's own name so that columns can be qualified
	// with it, as GoogleSQL allows.
	switch {
	case j < len(toks) && toks[j].is("AS") && j+1 < len(toks):
		out += " AS " + quoteIdent(toks[j+1].text)
		j += 2
	case j < len(toks) && (toks[j].kind == tokQuoted || toks[j].kind == tokIdent && !keywords[upper(toks[j])] && !unsupportedWords[upper(toks[j])]):
		out += " AS " + quoteIdent(toks[j].text)
		j++
	default:
		out += " AS " + quoteIdent(last)
	}
	return out, j, nil
}

func splitDataset(ds, project string) (string, string) {
	if p, d, ok := strings.Cut(ds, ":"); ok {
		return p, d
	}
	return project, ds
}

const maxViewNesting = 16

// source is what a FROM clause reads for a table: its DuckDB copy, or a
// view's translated query in parentheses.
func (tr *translator) source(ref tableRef, at token) (string, *apiError) {
	ds := tr.s.datasets[ref.project+":"+ref.dataset]
	if ds == nil {
		return "", errNotFound("Dataset %s:%s was not found in location US", ref.project, ref.dataset)
	}
	t := tr.s.liveTableLocked(ds, ref.table)
	if t == nil {
		return "", errNotFound("Table %s was not found in location US", ref)
	}
	if t.isView() {
		v := t.doc["view"].(object)
		if legacy, ok := v["useLegacySql"].(bool); legacy || !ok {
			return "", tr.unsupported(at, "legacy SQL view %s", ref)
		}
		if tr.views >= maxViewNesting {
			return "", errInvalidQuery("Views nested too deeply at %s", ref)
		}
		child := &translator{s: tr.s, query: str(v["query"]), project: ref.project, now: tr.now, tables: tr.tables, views: tr.views + 1}
		sql, err := child.statement(child.query)
		if err != nil {
			err.message = fmt.Sprintf("%s (in view %s)", err.message, ref)
			return "", err
		}
		return "(" + sql + ")", nil
	}
	st := tr.tables[ref]
	if st == nil {
		st = &scanTable{t: t, name: tr.s.duckNameLocked(t)}
		tr.tables[ref] = st
	}
	tr.last = st
	return quoteIdent(st.name), nil
}

// unnest translates UNNEST(array) [AS] alias in a FROM clause: GoogleSQL
// names the element column after the alias.
func (tr *translator) unnest(toks []token, i int) (string, int, *apiError) {
	if i+1 >= len(toks) || !toks[i+1].op("(") {
		return "", 0, tr.syntax(toks[min(i+1, len(toks)-1)])
	}
	end := matchParen(toks, i+1)
	if end < 0 {
		return "", 0, tr.syntax(toks[i+1])
	}
	inner, err := tr.emit(toks[i+2:end], false)
	if err != nil {
		return "", 0, err
	}
	j := end + 1
	if j < len(toks) && toks[j].is("AS") {
		j++
	}
	out := "UNNEST(" + inner + ")"
	if j < len(toks) && (toks[j].kind == tokQuoted || toks[j].kind == tokIdent && !keywords[upper(toks[j])]) {
		a := quoteIdent(toks[j].text)
		out += " AS " + a + "(" + a + ")"
		j++
	}
	if j < len(toks) && toks[j].is("WITH") {
		return "", 0, tr.unsupported(toks[j], "UNNEST WITH OFFSET")
	}
	return out, j, nil
}

// intervalUnits are the INTERVAL parts both engines read alike.
var intervalUnits = setOf("MICROSECOND", "MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR")

// interval translates INTERVAL expr part.
func (tr *translator) interval(toks []token, i int) (string, int, *apiError) {
	j := i + 1
	var expr []token
	switch {
	case j < len(toks) && toks[j].op("("):
		end := matchParen(toks, j)
		if end < 0 {
			return "", 0, tr.syntax(toks[j])
		}
		expr, j = toks[j:end+1], end+1
	case j+1 < len(toks) && toks[j].op("-"):
		expr, j = toks[j:j+2], j+2
	case j < len(toks):
		expr, j = toks[j:j+1], j+1
	}
	if j >= len(toks) || toks[j].kind != tokIdent || !intervalUnits[upper(toks[j])] {
		if j < len(toks) && toks[j].is("TO") || j < len(toks) && toks[j].kind == tokString {
			return "", 0, tr.unsupported(toks[i], "INTERVAL literals")
		}
		return "", 0, tr.unsupported(toks[i], "INTERVAL without a supported date part")
	}
	if len(expr) == 1 && expr[0].kind == tokString {
		return "", 0, tr.unsupported(toks[i], "INTERVAL literals")
	}
	e, err := tr.emit(expr, false)
	if err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("(INTERVAL (%s) %s)", e, upper(toks[j])), j + 1, nil
}

// subscript translates array[OFFSET(i)], [SAFE_OFFSET(i)], [ORDINAL(i)]
// and [SAFE_ORDINAL(i)]; DuckDB lists are 1-based and NULL out of range,
// as the SAFE_ forms are.
func (tr *translator) subscript(toks []token, i int) (string, int, *apiError) {
	end := matchParen(toks, i)
	if end < 0 {
		return "", 0, tr.syntax(toks[i])
	}
	in := toks[i+1 : end]
	if len(in) < 3 || in[0].kind != tokIdent || !in[1].op("(") || !in[len(in)-1].op(")") {
		return "", 0, tr.unsupported(toks[i], "array subscripts other than [SAFE_OFFSET(i)] and [SAFE_ORDINAL(i)]")
	}
	e, err := tr.emit(in[2:len(in)-1], false)
	if err != nil {
		return "", 0, err
	}
	switch upper(in[0]) {
	case "SAFE_OFFSET":
		return "[(" + e + ") + 1]", end + 1, nil
	case "SAFE_ORDINAL":
		return "[" + e + "]", end + 1, nil
	}
	// OFFSET and ORDINAL fail out of range in BigQuery; DuckDB gives NULL.
	return "", 0, tr.unsupported(toks[i], "array subscript %s (use SAFE_%s)", upper(in[0]), upper(in[0]))
}
