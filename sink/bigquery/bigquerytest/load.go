package bigquerytest

import (
	"context"
	"net/http"
)

func (s *Server) runLoadLocked(_ context.Context, _ string, _ object, _ []byte, _ *job) *apiError {
	return errInvalid("bigquerytest: unsupported: load jobs")
}

func (s *Server) handleUpload(w http.ResponseWriter, _ *http.Request) {
	writeError(w, errInvalid("bigquerytest: unsupported: load jobs"))
}
