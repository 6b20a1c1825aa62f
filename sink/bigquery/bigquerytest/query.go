package bigquerytest

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// runQueryLocked runs a query job's configuration: translation, the
// copies of the tables it reads, the bytes estimate and its limit, then
// (unless a dry run) the query itself and its destination table.
func (s *Server) runQueryLocked(ctx context.Context, project string, q object, dry bool, j *job) *apiError {
	if legacy, ok := q["useLegacySql"].(bool); legacy || !ok {
		return errInvalidQuery("bigquerytest: unsupported: legacy SQL (BigQuery's default for jobs; set useLegacySql to false)")
	}
	sqlText, _ := q["query"].(string)
	if strings.TrimSpace(sqlText) == "" {
		return errInvalid("Query text is empty")
	}
	tr := &translator{s: s, query: sqlText, project: project, now: s.cfg.now(), tables: map[tableRef]*scanTable{}}
	if dd, _ := q["defaultDataset"].(object); dd != nil {
		p, _ := dd["projectId"].(string)
		d, _ := dd["datasetId"].(string)
		if p == "" {
			p = project
		}
		if d != "" {
			tr.dataset = p + ":" + d
		}
	}
	if err := tr.bindParams(q); err != nil {
		return err
	}
	toks, lexErr := lex(sqlText)
	if lexErr != nil {
		return lexErr
	}
	if len(toks) == 0 {
		return errInvalidQuery("Syntax error: Unexpected end of script at [1:1]")
	}
	kind := upper(toks[0])
	stmt := "SELECT"
	switch kind {
	case "SELECT", "WITH", "(":
	case "INSERT", "DELETE", "UPDATE":
		stmt = kind
	default:
		if toks[0].op("(") {
			break
		}
		return tr.unsupported(toks[0], "statement %s", kind)
	}
	var duck string
	var target *dmlTarget
	var err *apiError
	if stmt == "SELECT" {
		duck, err = tr.statement(sqlText)
	} else {
		duck, target, err = tr.dml(toks, stmt)
	}
	if err != nil {
		return err
	}
	e, engErr := s.engineLocked(ctx)
	if engErr != nil {
		return &apiError{code: 500, reason: "internalError", message: engErr.Error()}
	}
	for ref, st := range tr.tables {
		if err := e.ensure(ctx, st, s.liveRowsLocked(st.t)); err != nil {
			return errInvalidQuery("bigquerytest: unsupported: table %s in a query: %v", ref, err)
		}
	}
	processed, estErr := s.estimateLocked(ctx, e, tr, duck)
	if estErr != nil {
		return tr.duckError(estErr)
	}
	billed := billedBytes(processed, len(tr.tables))
	stats := j.doc["statistics"].(object)
	stats["totalBytesProcessed"] = strconv.FormatInt(processed, 10)
	qstats := object{
		"totalBytesProcessed":         strconv.FormatInt(processed, 10),
		"totalBytesProcessedAccuracy": "PRECISE",
		"cacheHit":                    false,
		"statementType":               stmt,
	}
	stats["query"] = qstats
	if dry {
		if stmt == "SELECT" {
			res, err := e.query(ctx, "SELECT * FROM ("+duck+") LIMIT 0")
			if err != nil {
				return tr.duckError(err)
			}
			qstats["schema"] = renderSchema(res.fields)
		}
		return nil
	}
	if limit, ok := jsonInt(q["maximumBytesBilled"]); ok && limit > 0 && billed > limit {
		return &apiError{code: 400, reason: "bytesBilledLimitExceeded",
			message: fmt.Sprintf("Query exceeded limit for bytes billed: %d. %d or higher required.", limit, billed)}
	}
	qstats["totalBytesBilled"] = strconv.FormatInt(billed, 10)
	qstats["billingTier"] = 1
	if stmt != "SELECT" {
		n, err := s.execDMLLocked(ctx, e, tr, duck, target)
		if err != nil {
			return err
		}
		j.isDML, j.dml = true, n
		qstats["numDmlAffectedRows"] = strconv.FormatInt(n, 10)
		j.result = &result{}
		return nil
	}
	res, qerr := e.query(ctx, duck)
	if qerr != nil {
		return tr.duckError(qerr)
	}
	qstats["schema"] = renderSchema(res.fields)
	j.result = res
	if dst, _ := q["destinationTable"].(object); dst != nil {
		return s.writeDestinationLocked(project, q, dst, res, "WRITE_EMPTY", false)
	}
	return nil
}

const (
	mib            = 1 << 20
	minBilledBytes = 10 * mib
)

// billedBytes is what on-demand pricing bills for bytes processed: rounded
// up to a whole MiB, at least 10 MiB per table read; nothing for a query
// that reads no table.
func billedBytes(processed int64, tables int) int64 {
	if tables == 0 {
		return 0
	}
	b := (processed + mib - 1) / mib * mib
	return max(b, int64(tables)*minBilledBytes)
}

// bindParams turns the job's query parameters into DuckDB literals.
func (tr *translator) bindParams(q object) *apiError {
	list, _ := q["queryParameters"].([]any)
	if len(list) == 0 {
		return nil
	}
	mode, _ := q["parameterMode"].(string)
	tr.params = map[string]string{}
	for _, item := range list {
		p, _ := item.(object)
		name, _ := p["name"].(string)
		typ, _ := p["parameterType"].(object)
		val, _ := p["parameterValue"].(object)
		lit, err := paramLiteral(typ, val)
		if err != nil {
			return err
		}
		if name == "" {
			if mode == "NAMED" {
				return errInvalid("Query parameter has no name in NAMED parameter mode")
			}
			tr.posArgs = append(tr.posArgs, lit)
			continue
		}
		tr.params[strings.ToUpper(name)] = lit
	}
	return nil
}

// paramLiteral renders a query parameter value as a typed DuckDB literal.
func paramLiteral(typ, val object) (string, *apiError) {
	t, _ := typ["type"].(string)
	if t == "ARRAY" {
		elem, _ := typ["arrayType"].(object)
		et, err := duckParamType(elem)
		if err != nil {
			return "", err
		}
		vals, _ := val["arrayValues"].([]any)
		parts := make([]string, len(vals))
		for i, v := range vals {
			o, _ := v.(object)
			s, err := paramLiteral(elem, o)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "CAST([" + strings.Join(parts, ", ") + "] AS " + et + "[])", nil
	}
	dt, err := duckParamType(typ)
	if err != nil {
		return "", err
	}
	raw, ok := val["value"]
	if !ok || raw == nil {
		return "CAST(NULL AS " + dt + ")", nil
	}
	v := fmt.Sprint(raw)
	switch t {
	case "INT64":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", errInvalid("Invalid value for INT64 query parameter: %q", v)
		}
	case "FLOAT64":
		if _, err := strconv.ParseFloat(v, 64); err != nil && v != "NaN" && v != "Infinity" && v != "-Infinity" {
			return "", errInvalid("Invalid value for FLOAT64 query parameter: %q", v)
		}
	case "BOOL":
		if v != "true" && v != "false" && v != "TRUE" && v != "FALSE" {
			return "", errInvalid("Invalid value for BOOL query parameter: %q", v)
		}
	case "BYTES":
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "", errInvalid("Invalid value for BYTES query parameter: %q", v)
		}
		return bytesLiteral(b), nil
	}
	return "CAST(" + quoteString(v) + " AS " + dt + ")", nil
}

func duckParamType(typ object) (string, *apiError) {
	t, _ := typ["type"].(string)
	switch t {
	case "STRUCT", "ARRAY", "RANGE", "INTERVAL", "GEOGRAPHY", "BIGNUMERIC":
		return "", errInvalidQuery("bigquerytest: unsupported: %s query parameters", t)
	}
	d := castTypes[t]
	if d == "" {
		return "", errInvalid("Invalid query parameter type: %s", t)
	}
	return d, nil
}
