package bigquerytest

import (
	"fmt"
	"strings"
)

// funcRule translates one function call: name is the upper-case GoogleSQL
// name, args the tokens of each argument.
type funcRule func(tr *translator, name token, args [][]token) (string, *apiError)

// same passes a call through under DuckDB's name for it; the two engines
// agree on what these functions return.
func same(duck string) funcRule {
	return func(tr *translator, _ token, args [][]token) (string, *apiError) {
		s, err := tr.emitArgs(args)
		if err != nil {
			return "", err
		}
		return duck + "(" + strings.Join(s, ", ") + ")", nil
	}
}

// arity wraps a rule with a check of its argument count.
func arity(lo, hi int, r funcRule) funcRule {
	return func(tr *translator, name token, args [][]token) (string, *apiError) {
		if len(args) < lo || len(args) > hi {
			return "", errInvalidQuery("No matching signature for function %s for %d argument(s) at %s", upper(name), len(args), lineCol(tr.query, name.pos))
		}
		return r(tr, name, args)
	}
}

// template fills %[1]s, %[2]s, … with the translated arguments.
func template(n int, format string) funcRule {
	return arity(n, n, func(tr *translator, _ token, args [][]token) (string, *apiError) {
		s, err := tr.emitArgs(args)
		if err != nil {
			return "", err
		}
		vals := make([]any, len(s))
		for i, v := range s {
			vals[i] = v
		}
		return fmt.Sprintf(format, vals...), nil
	})
}

// functions is the allowlist: a function missing here fails the query.
var functions map[string]funcRule

func init() {
	functions = map[string]funcRule{
		// Aggregates.
		"COUNT": same("count"), "SUM": same("sum"), "AVG": same("avg"), "MIN": same("min"), "MAX": same("max"),
		"ANY_VALUE": same("any_value"), "STRING_AGG": same("string_agg"),
		"LOGICAL_AND": same("bool_and"), "LOGICAL_OR": same("bool_or"), "COUNTIF": arity(1, 1, same("count_if")),
		"STDDEV": same("stddev_samp"), "STDDEV_SAMP": same("stddev_samp"), "STDDEV_POP": same("stddev_pop"),
		"VARIANCE": same("var_samp"), "VAR_SAMP": same("var_samp"), "VAR_POP": same("var_pop"),
		// The fake counts exactly; BigQuery's HLL++ estimate is exact for
		// small cardinalities only.
		"APPROX_COUNT_DISTINCT": template(1, "count(DISTINCT %[1]s)"),
		// Windows.
		"ROW_NUMBER": arity(0, 0, same("row_number")), "RANK": arity(0, 0, same("rank")), "DENSE_RANK": arity(0, 0, same("dense_rank")),
		"PERCENT_RANK": arity(0, 0, same("percent_rank")), "CUME_DIST": arity(0, 0, same("cume_dist")), "NTILE": same("ntile"),
		"LAG": same("lag"), "LEAD": same("lead"), "FIRST_VALUE": same("first_value"), "LAST_VALUE": same("last_value"),
		// Conditionals.
		"COALESCE": same("coalesce"), "IFNULL": arity(2, 2, same("ifnull")), "NULLIF": arity(2, 2, same("nullif")),
		"IF": template(3, "CASE WHEN %[1]s THEN %[2]s ELSE %[3]s END"),
		// Numbers.
		"ABS": same("abs"), "SIGN": same("sign"), "ROUND": arity(1, 2, same("round")), "FLOOR": same("floor"),
		"CEIL": same("ceil"), "CEILING": same("ceil"), "SQRT": same("sqrt"), "POW": same("pow"), "POWER": same("pow"),
		"EXP": same("exp"), "LN": same("ln"), "LOG10": same("log10"), "MOD": arity(2, 2, same("mod")),
		"SAFE_DIVIDE": template(2, "CASE WHEN (%[2]s) = 0 THEN NULL ELSE (%[1]s) / (%[2]s) END"),
		"DIV":         template(2, "CASE WHEN (%[2]s) = 0 THEN error('division by zero: ' || (%[1]s) || ' / 0') ELSE (%[1]s) // (%[2]s) END"),
		"IEEE_DIVIDE": template(2, "(CAST(%[1]s AS DOUBLE) / (%[2]s))"),
		// Strings. CONCAT is NULL when an argument is, as ||.
		"CONCAT": arity(1, 1<<10, func(tr *translator, _ token, args [][]token) (string, *apiError) {
			s, err := tr.emitArgs(args)
			if err != nil {
				return "", err
			}
			return "(" + strings.Join(s, " || ") + ")", nil
		}),
		"UPPER": same("upper"), "LOWER": same("lower"), "LENGTH": same("length"), "TRIM": arity(1, 1, same("trim")),
		"LTRIM": arity(1, 1, same("ltrim")), "RTRIM": arity(1, 1, same("rtrim")), "SUBSTR": arity(2, 3, same("substr")),
		"SUBSTRING": arity(2, 3, same("substr")), "REPLACE": arity(3, 3, same("replace")), "STARTS_WITH": same("starts_with"),
		"ENDS_WITH": same("ends_with"), "STRPOS": same("strpos"), "REVERSE": same("reverse"),
		"REGEXP_CONTAINS": arity(2, 2, same("regexp_matches")), "TO_HEX": template(1, "lower(hex(%[1]s))"),
		"JSON_VALUE":    arity(2, 2, same("json_extract_string")),
		"GENERATE_UUID": template(0, "CAST(uuid() AS VARCHAR)"),
		"ARRAY_LENGTH":  arity(1, 1, same("len")),
		// Conversions and time.
		"CAST": castRule("CAST"), "SAFE_CAST": castRule("TRY_CAST"),
		"TIMESTAMP_TRUNC":   truncRule("TIMESTAMPTZ", timestampParts),
		"DATE_TRUNC":        truncRule("DATE", dateParts),
		"DATE":              dateRule,
		"TIMESTAMP":         timestampRule,
		"EXTRACT":           extractRule,
		"TIMESTAMP_ADD":     template(2, "(%[1]s + %[2]s)"),
		"TIMESTAMP_SUB":     template(2, "(%[1]s - %[2]s)"),
		"DATE_ADD":          template(2, "CAST(%[1]s + %[2]s AS DATE)"),
		"DATE_SUB":          template(2, "CAST(%[1]s - %[2]s AS DATE)"),
		"TIMESTAMP_DIFF":    diffRule("date_sub", timestampParts),
		"DATE_DIFF":         diffRule("date_diff", dateParts),
		"UNIX_MICROS":       template(1, "epoch_us(%[1]s)"),
		"UNIX_MILLIS":       template(1, "epoch_ms(%[1]s)"),
		"UNIX_SECONDS":      template(1, "CAST(floor(epoch(%[1]s)) AS BIGINT)"),
		"UNIX_DATE":         template(1, "date_diff('day', DATE '1970-01-01', %[1]s)"),
		"TIMESTAMP_MICROS":  template(1, "CAST(make_timestamp(%[1]s) AS TIMESTAMPTZ)"),
		"TIMESTAMP_MILLIS":  template(1, "CAST(make_timestamp((%[1]s) * 1000) AS TIMESTAMPTZ)"),
		"TIMESTAMP_SECONDS": template(1, "CAST(make_timestamp(CAST(%[1]s AS BIGINT) * 1000000) AS TIMESTAMPTZ)"),
		"FARM_FINGERPRINT":  farmRule,
		"FORMAT_DATE":       formatRule(2),
		"FORMAT_TIMESTAMP":  formatRule(3),
		// GoogleSQL hashes are BYTES; DuckDB's are hex text.
		"SHA256": template(1, "unhex(sha256(%[1]s))"),
		"SHA1":   template(1, "unhex(sha1(%[1]s))"),
		"MD5":    template(1, "unhex(md5(%[1]s))"),
	}
}

// call translates a function call at toks[i] and returns the index after
// its closing parenthesis.
func (tr *translator) call(toks []token, i int) (string, int, *apiError) {
	name := toks[i]
	end := matchParen(toks, i+1)
	if end < 0 {
		return "", 0, tr.syntax(toks[i+1])
	}
	u := upper(name)
	if u == "SAFE" {
		return "", 0, tr.unsupported(name, "SAFE. function prefix")
	}
	rule := functions[u]
	if rule == nil {
		return "", 0, errInvalidQuery("bigquerytest: unsupported: function %s at %s", u, lineCol(tr.query, name.pos))
	}
	args := splitTop(toks[i+2 : end])
	s, err := rule(tr, name, args)
	if err != nil {
		return "", 0, err
	}
	return s, end + 1, nil
}

func (tr *translator) emitArgs(args [][]token) ([]string, *apiError) {
	out := make([]string, len(args))
	for i, a := range args {
		s, err := tr.emit(a, false)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// castTypes maps GoogleSQL type names to DuckDB's.
var castTypes = map[string]string{
	"INT64": "BIGINT", "INTEGER": "BIGINT", "INT": "BIGINT", "SMALLINT": "BIGINT", "BIGINT": "BIGINT", "TINYINT": "BIGINT", "BYTEINT": "BIGINT",
	"FLOAT64": "DOUBLE", "STRING": "VARCHAR", "BYTES": "BLOB", "BOOL": "BOOLEAN", "BOOLEAN": "BOOLEAN",
	"NUMERIC": "DECIMAL(38,9)", "DECIMAL": "DECIMAL(38,9)", "TIMESTAMP": "TIMESTAMPTZ", "DATE": "DATE",
	"DATETIME": "TIMESTAMP", "TIME": "TIME", "JSON": "JSON",
}

func castRule(duck string) funcRule {
	return func(tr *translator, name token, args [][]token) (string, *apiError) {
		if len(args) != 1 {
			return "", tr.syntax(name)
		}
		a := args[0]
		as := -1
		depth := 0
		for j, t := range a {
			switch {
			case t.op("(") || t.op("["):
				depth++
			case t.op(")") || t.op("]"):
				depth--
			case depth == 0 && t.is("AS"):
				as = j
			}
		}
		if as < 1 || as != len(a)-2 || a[as+1].kind != tokIdent {
			if as >= 0 && as+1 < len(a) {
				return "", tr.unsupported(a[as+1], "cast to %s", a[as+1].text)
			}
			return "", tr.syntax(name)
		}
		typ := castTypes[upper(a[as+1])]
		if typ == "" {
			return "", tr.unsupported(a[as+1], "cast to %s", a[as+1].text)
		}
		e, err := tr.emit(a[:as], false)
		if err != nil {
			return "", err
		}
		if typ == "BIGINT" {
			// GoogleSQL rounds a FLOAT64 half away from zero; DuckDB's cast
			// rounds half to even, its round() away from zero.
			return fmt.Sprintf("CASE WHEN typeof(%[2]s) IN ('DOUBLE', 'FLOAT') THEN %[1]s(round(TRY_CAST(%[2]s AS DOUBLE)) AS BIGINT) ELSE %[1]s(%[2]s AS BIGINT) END", duck, e), nil
		}
		return fmt.Sprintf("%s(%s AS %s)", duck, e, typ), nil
	}
}

// Date parts the two engines truncate and count alike. WEEK is missing:
// GoogleSQL's weeks start on Sunday, DuckDB's on Monday (ISOWEEK).
var (
	timestampParts = map[string]string{"MICROSECOND": "microseconds", "MILLISECOND": "milliseconds", "SECOND": "second",
		"MINUTE": "minute", "HOUR": "hour", "DAY": "day", "ISOWEEK": "week", "MONTH": "month", "QUARTER": "quarter", "YEAR": "year"}
	dateParts = map[string]string{"DAY": "day", "ISOWEEK": "week", "MONTH": "month", "QUARTER": "quarter", "YEAR": "year"}
)

func (tr *translator) part(a []token, parts map[string]string) (string, *apiError) {
	if len(a) != 1 || a[0].kind != tokIdent {
		if len(a) > 0 {
			return "", tr.unsupported(a[0], "date part")
		}
		return "", errInvalidQuery("Syntax error: missing date part")
	}
	p := parts[upper(a[0])]
	if p == "" {
		return "", tr.unsupported(a[0], "date part %s", upper(a[0]))
	}
	return p, nil
}

// utcOnly accepts a time zone argument only when it is the literal 'UTC'.
func (tr *translator) utcOnly(a []token) *apiError {
	if len(a) == 1 && a[0].kind == tokString && (a[0].text == "UTC" || a[0].text == "Etc/UTC" || a[0].text == "+00") {
		return nil
	}
	return tr.unsupported(a[0], "time zones other than 'UTC'")
}

func truncRule(typ string, parts map[string]string) funcRule {
	return arity(2, 3, func(tr *translator, _ token, args [][]token) (string, *apiError) {
		if len(args) == 3 {
			if err := tr.utcOnly(args[2]); err != nil {
				return "", err
			}
		}
		p, err := tr.part(args[1], parts)
		if err != nil {
			return "", err
		}
		e, err := tr.emit(args[0], false)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("CAST(date_trunc('%s', %s) AS %s)", p, e, typ), nil
	})
}

func diffRule(duck string, parts map[string]string) funcRule {
	return arity(3, 3, func(tr *translator, _ token, args [][]token) (string, *apiError) {
		p, err := tr.part(args[2], parts)
		if err != nil {
			return "", err
		}
		s, err := tr.emitArgs(args[:2])
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s('%s', %s, %s)", duck, p, s[1], s[0]), nil
	})
}

func dateRule(tr *translator, name token, args [][]token) (string, *apiError) {
	switch len(args) {
	case 1:
		e, err := tr.emit(args[0], false)
		if err != nil {
			return "", err
		}
		return "CAST(" + e + " AS DATE)", nil
	case 2:
		if err := tr.utcOnly(args[1]); err != nil {
			return "", err
		}
		e, err := tr.emit(args[0], false)
		if err != nil {
			return "", err
		}
		return "CAST(" + e + " AS DATE)", nil
	case 3:
		s, err := tr.emitArgs(args)
		if err != nil {
			return "", err
		}
		return "make_date(" + strings.Join(s, ", ") + ")", nil
	}
	return "", errInvalidQuery("No matching signature for function DATE at %s", lineCol(tr.query, name.pos))
}

func timestampRule(tr *translator, name token, args [][]token) (string, *apiError) {
	if len(args) == 2 {
		if err := tr.utcOnly(args[1]); err != nil {
			return "", err
		}
	} else if len(args) != 1 {
		return "", errInvalidQuery("No matching signature for function TIMESTAMP at %s", lineCol(tr.query, name.pos))
	}
	e, err := tr.emit(args[0], false)
	if err != nil {
		return "", err
	}
	return "CAST(" + e + " AS TIMESTAMPTZ)", nil
}

// extractParts are the EXTRACT parts both engines agree on.
var extractParts = setOf("YEAR", "QUARTER", "MONTH", "DAY", "DAYOFYEAR", "HOUR", "MINUTE", "SECOND", "ISOYEAR")

func extractRule(tr *translator, name token, args [][]token) (string, *apiError) {
	if len(args) != 1 || len(args[0]) < 3 || args[0][0].kind != tokIdent || !args[0][1].is("FROM") {
		return "", tr.syntax(name)
	}
	a := args[0]
	p := upper(a[0])
	for _, t := range a[2:] {
		if t.is("AT") {
			return "", tr.unsupported(t, "EXTRACT … AT TIME ZONE")
		}
	}
	e, err := tr.emit(a[2:], false)
	if err != nil {
		return "", err
	}
	switch {
	case p == "DATE":
		return "CAST(" + e + " AS DATE)", nil
	case p == "DAYOFWEEK": // 1 is Sunday in GoogleSQL, 0 in DuckDB
		return "(dayofweek(" + e + ") + 1)", nil
	case extractParts[p]:
		return fmt.Sprintf("EXTRACT(%s FROM %s)", p, e), nil
	}
	return "", tr.unsupported(a[0], "EXTRACT(%s …)", p)
}

func farmRule(tr *translator, name token, _ [][]token) (string, *apiError) {
	return "", tr.unsupported(name, "function FARM_FINGERPRINT")
}

// formatSpecifiers are the format elements both engines print alike.
var formatSpecifiers = map[byte]string{'Y': "%Y", 'm': "%m", 'd': "%d", 'H': "%H", 'M': "%M", 'S': "%S",
	'F': "%Y-%m-%d", 'T': "%H:%M:%S", 'j': "%j", '%': "%%"}

// formatRule translates FORMAT_DATE(format, date) and
// FORMAT_TIMESTAMP(format, timestamp[, 'UTC']) for a constant format of
// the specifiers in formatSpecifiers.
func formatRule(maxArgs int) funcRule {
	return arity(2, maxArgs, func(tr *translator, name token, args [][]token) (string, *apiError) {
		if len(args) == 3 {
			if err := tr.utcOnly(args[2]); err != nil {
				return "", err
			}
		}
		if len(args[0]) != 1 || args[0][0].kind != tokString {
			return "", tr.unsupported(name, "%s with a format that is not a string literal", upper(name))
		}
		f := args[0][0].text
		var out strings.Builder
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				out.WriteByte(f[i])
				continue
			}
			if i+1 >= len(f) || formatSpecifiers[f[i+1]] == "" {
				return "", tr.unsupported(args[0][0], "format element %q", f[i:min(i+2, len(f))])
			}
			out.WriteString(formatSpecifiers[f[i+1]])
			i++
		}
		e, err := tr.emit(args[1], false)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("strftime(%s, %s)", e, quoteString(out.String())), nil
	})
}
