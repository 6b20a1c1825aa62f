package bigquerytest

import "net/http"

func (s *Server) listTableData(r *http.Request) (any, *apiError) {
	return nil, &apiError{code: http.StatusNotImplemented, reason: "notImplemented", message: "bigquerytest: tabledata.list"}
}
