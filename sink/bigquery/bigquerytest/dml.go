package bigquerytest

import "context"

// dmlTarget is the table a DML statement changes.
type dmlTarget struct {
	ref tableRef
	st  *scanTable
}

func (tr *translator) dml(toks []token, stmt string) (string, *dmlTarget, *apiError) {
	return "", nil, tr.unsupported(toks[0], "DML statement %s", stmt)
}

func (s *Server) execDMLLocked(context.Context, *engine, *translator, string, *dmlTarget) (int64, *apiError) {
	return 0, errInvalidQuery("bigquerytest: unsupported: DML")
}
