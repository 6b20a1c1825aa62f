package bigquerytest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is a REST failure in the shape Google APIs use, so that
// googleapi.CheckResponse in the real client parses it into a
// *googleapi.Error with the same code and reason BigQuery sends.
type apiError struct {
	code    int
	reason  string
	message string
	details []*apiError // more errors (a load job's bad rows), after this one
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.code, e.reason, e.message) }

func errNotFound(format string, args ...any) *apiError {
	return &apiError{code: http.StatusNotFound, reason: "notFound", message: "Not found: " + fmt.Sprintf(format, args...)}
}

func errDuplicate(format string, args ...any) *apiError {
	return &apiError{code: http.StatusConflict, reason: "duplicate", message: "Already Exists: " + fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) *apiError {
	return &apiError{code: http.StatusBadRequest, reason: "invalid", message: fmt.Sprintf(format, args...)}
}

func errConditionNotMet() *apiError {
	return &apiError{code: http.StatusPreconditionFailed, reason: "conditionNotMet", message: "Precondition check failed."}
}

// statusText is the google.rpc.Code name BigQuery puts in error.status.
var statusText = map[int]string{
	http.StatusBadRequest:         "INVALID_ARGUMENT",
	http.StatusNotFound:           "NOT_FOUND",
	http.StatusMethodNotAllowed:   "INVALID_ARGUMENT",
	http.StatusConflict:           "ALREADY_EXISTS",
	http.StatusPreconditionFailed: "FAILED_PRECONDITION",
	http.StatusNotImplemented:     "UNIMPLEMENTED",
}

func writeError(w http.ResponseWriter, e *apiError) {
	type body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []item `json:"errors"`
		Status  string `json:"status"`
	}
	writeJSON(w, e.code, map[string]body{"error": {
		Code:    e.code,
		Message: e.message,
		Errors:  items(e),
		Status:  statusText[e.code],
	}})
}

func items(e *apiError) []item {
	out := []item{{Message: e.message, Domain: "global", Reason: e.reason}}
	for _, d := range e.details {
		out = append(out, item{Message: d.message, Domain: "global", Reason: d.reason})
	}
	return out
}

// item is one entry of an error's errors list.
type item struct {
	Message string `json:"message"`
	Domain  string `json:"domain"`
	Reason  string `json:"reason"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func errInvalidQuery(format string, args ...any) *apiError {
	return &apiError{code: http.StatusBadRequest, reason: "invalidQuery", message: fmt.Sprintf(format, args...)}
}
