package bigquerytest

import "context"

// DML: INSERT (VALUES or a query), UPDATE … SET … WHERE and DELETE …
// WHERE on one base table run on the table's DuckDB copy, which then
// replaces the table's rows (all or nothing). MERGE and DML on views are
// refused.

// dmlTarget is the table a DML statement changes.
type dmlTarget struct {
	st *scanTable
}

// dml translates a DML statement and resolves its target table.
func (tr *translator) dml(toks []token, stmt string) (string, *dmlTarget, *apiError) {
	for i, t := range toks {
		if t.op(";") {
			if i != len(toks)-1 {
				return "", nil, tr.unsupported(t, "scripts (more than one statement)")
			}
			toks = toks[:i]
		}
	}
	tr.findCTEs(toks)
	i := 1
	switch stmt {
	case "INSERT", "DELETE":
		kw := "INTO"
		if stmt == "DELETE" {
			kw = "FROM"
		}
		if i < len(toks) && toks[i].is(kw) {
			i++
		}
	}
	if i >= len(toks) || toks[i].kind != tokIdent && toks[i].kind != tokQuoted {
		return "", nil, tr.syntax(toks[min(i, len(toks)-1)])
	}
	tr.last = nil
	name, next, err := tr.tableRef(toks, i)
	if err != nil {
		return "", nil, err
	}
	if tr.last == nil {
		return "", nil, errInvalidQuery("bigquerytest: unsupported: DML on views or WITH names at %s", lineCol(tr.query, toks[i].pos))
	}
	target := &dmlTarget{st: tr.last}
	rest, err := tr.emit(toks[next:], false)
	if err != nil {
		return "", nil, err
	}
	if stmt != "INSERT" {
		hasWhere := false
		for _, t := range toks[next:] {
			if t.is("WHERE") {
				hasWhere = true
			}
		}
		if !hasWhere {
			return "", nil, errInvalidQuery("%s must have a WHERE clause at %s", stmt, lineCol(tr.query, toks[0].pos))
		}
	}
	switch stmt {
	case "INSERT":
		// DuckDB takes no alias on an INSERT target.
		return "INSERT INTO " + quoteIdent(target.st.name) + " " + rest, target, nil
	case "DELETE":
		return "DELETE FROM " + name + " " + rest, target, nil
	}
	return "UPDATE " + name + " " + rest, target, nil
}

// execDMLLocked runs a translated DML statement on the target's copy and
// replaces the table's rows with the copy's, unless a REQUIRED column
// would hold NULL.
func (s *Server) execDMLLocked(ctx context.Context, e *engine, tr *translator, duck string, target *dmlTarget) (int64, *apiError) {
	// The statement changes the copy, whatever becomes of the table.
	defer e.forget(target.st.t)
	r, err := e.conn.ExecContext(ctx, duck)
	if err != nil {
		return 0, tr.duckError(err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, tr.duckError(err)
	}
	res, err := e.query(ctx, "SELECT * FROM "+quoteIdent(target.st.name))
	if err != nil {
		return 0, tr.duckError(err)
	}
	fields := target.st.t.current().fields
	rows := make([]map[string]any, len(res.rows))
	for i, row := range res.rows {
		rows[i] = renameRow(row, res.fields, fields)
	}
	if err := checkRequired(fields, rows); err != nil {
		return 0, err
	}
	t := target.st.t
	t.rows = rows
	t.version++
	t.doc["etag"] = s.etagLocked()
	t.doc["lastModifiedTime"] = millis(s.cfg.now())
	return n, nil
}
