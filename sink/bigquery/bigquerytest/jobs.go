package bigquerytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// job is a finished job: jobs run to completion inside jobs.insert and
// jobs.query, so every job is DONE when a client first sees it.
type job struct {
	doc    object
	result *result   // a query's rows, for getQueryResults
	err    *apiError // why it failed, or nil
	dml    int64     // rows a DML statement changed
	isDML  bool
}

const jobLocation = "US"

func (s *Server) jobRoutes(mux *http.ServeMux) {
	p := "/bigquery/v2/projects/{project}"
	mux.HandleFunc("POST "+p+"/jobs", s.handle(s.insertJob))
	mux.HandleFunc("POST /upload"+p+"/jobs", s.handleUpload)
	mux.HandleFunc("PUT /upload"+p+"/jobs", s.handleUpload)
	mux.HandleFunc("GET "+p+"/jobs/{job}", s.handle(s.getJob))
	mux.HandleFunc("POST "+p+"/jobs/{job}/cancel", s.handle(s.cancelJob))
	mux.HandleFunc("POST "+p+"/queries", s.handle(s.queryJob))
	mux.HandleFunc("GET "+p+"/queries/{job}", s.handle(s.getQueryResults))
}

func jobKey(project, id string) string { return project + ":" + id }

// jobID is the request's job id, or a new one.
func (s *Server) jobIDLocked(body object) (string, *apiError) {
	ref, _ := body["jobReference"].(object)
	id, _ := ref["jobId"].(string)
	if id == "" {
		return fmt.Sprintf("job_bigquerytest_%d", s.nextSerialLocked()), nil
	}
	if !datasetID.MatchString(strings.ReplaceAll(id, "-", "_")) || len(id) > 1024 {
		return "", errInvalid("Invalid job ID %q. Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.", id)
	}
	return id, nil
}

// insertJob serves jobs.insert without media: query jobs (load jobs need
// their data uploaded, or gs:// URIs, which the fake does not read).
// JobsRequested is how many jobs were asked of the server (jobs.insert,
// jobs.query and load uploads, dry runs and refused ones included): what a
// caller's job count, billed per job on BigQuery, is checked against.
func (s *Server) JobsRequested() int64 { return s.jobsAsked.Load() }

func (s *Server) insertJob(r *http.Request) (any, *apiError) {
	body, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	return s.runJob(r, body, nil)
}

// runJob runs a job to completion and stores it. Dry runs are not stored,
// and their failures are the call's errors, as in BigQuery; other jobs
// store their failure in status.errorResult.
func (s *Server) runJob(r *http.Request, body object, media []byte) (any, *apiError) {
	s.jobsAsked.Add(1)
	project := r.PathValue("project")
	cfg, _ := body["configuration"].(object)
	dry, _ := cfg["dryRun"].(bool)
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.jobIDLocked(body)
	if err != nil {
		return nil, err
	}
	if s.jobs[jobKey(project, id)] != nil {
		return nil, errDuplicate("Job %s:%s.%s", project, jobLocation, id)
	}
	now := s.cfg.now()
	j := &job{doc: object{
		"kind":          "bigquery#job",
		"id":            project + ":" + jobLocation + "." + id,
		"jobReference":  object{"projectId": project, "jobId": id, "location": jobLocation},
		"configuration": cfg,
		"user_email":    "bigquerytest@example.com",
	}}
	stats := object{"creationTime": millis(now), "startTime": millis(now), "endTime": millis(now)}
	j.doc["statistics"] = stats
	var runErr *apiError
	switch {
	case cfg["query"] != nil:
		cfg["jobType"] = "QUERY"
		runErr = s.runQueryLocked(r.Context(), project, cfg["query"].(object), dry, j)
	case cfg["load"] != nil:
		cfg["jobType"] = "LOAD"
		if dry {
			runErr = errInvalid("bigquerytest: unsupported: dry-run load jobs")
			break
		}
		runErr = s.runLoadLocked(r.Context(), project, cfg["load"].(object), media, j)
	default:
		runErr = errInvalid("bigquerytest: unsupported: job types other than query and load")
	}
	if dry {
		if runErr != nil {
			return nil, runErr
		}
		j.doc["status"] = object{"state": "DONE"}
		delete(j.doc["jobReference"].(object), "jobId")
		return j.doc, nil
	}
	status := object{"state": "DONE"}
	if runErr != nil {
		j.err = runErr
		e := object{"reason": runErr.reason, "message": runErr.message}
		status["errorResult"] = e
		list := []any{e}
		for _, d := range runErr.details {
			list = append(list, object{"reason": d.reason, "message": d.message})
		}
		status["errors"] = list
	}
	j.doc["status"] = status
	j.doc["etag"] = s.etagLocked()
	s.jobs[jobKey(project, id)] = j
	return deepCopy(j.doc), nil
}

func (s *Server) jobLocked(r *http.Request) (*job, *apiError) {
	project, id := r.PathValue("project"), r.PathValue("job")
	j := s.jobs[jobKey(project, id)]
	if j == nil {
		return nil, errNotFound("Job %s:%s.%s", project, jobLocation, id)
	}
	return j, nil
}

func (s *Server) getJob(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, err := s.jobLocked(r)
	if err != nil {
		return nil, err
	}
	return deepCopy(j.doc), nil
}

// cancelJob serves jobs.cancel: every job is already done, so it only
// reports the job.
func (s *Server) cancelJob(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, err := s.jobLocked(r)
	if err != nil {
		return nil, err
	}
	return object{"kind": "bigquery#jobCancelResponse", "job": deepCopy(j.doc)}, nil
}

// queryJob serves jobs.query, the client's fast path: the query runs as a
// job and the first page of rows comes back with it. Failures are the
// call's errors.
func (s *Server) queryJob(r *http.Request) (any, *apiError) {
	body, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	q := object{}
	for _, k := range []string{"query", "useLegacySql", "maximumBytesBilled", "defaultDataset", "queryParameters", "parameterMode", "useQueryCache", "labels", "createSession"} {
		if v, ok := body[k]; ok {
			q[k] = v
		}
	}
	if _, ok := q["useLegacySql"]; !ok {
		q["useLegacySql"] = true
	}
	dry, _ := body["dryRun"].(bool)
	jobBody := object{"configuration": object{"query": q, "dryRun": dry}}
	if id, _ := body["requestId"].(string); id != "" {
		jobBody["jobReference"] = object{"jobId": "job_" + strings.ReplaceAll(id, "-", "_")}
	}
	v, err := s.runJob(r, jobBody, nil)
	if err != nil {
		return nil, err
	}
	doc := v.(object)
	if dry {
		stats, _ := doc["statistics"].(object)
		return object{"kind": "bigquery#queryResponse", "jobComplete": true, "totalBytesProcessed": stats["totalBytesProcessed"],
			"schema": stats["query"].(object)["schema"], "jobReference": doc["jobReference"]}, nil
	}
	ref := doc["jobReference"].(object)
	s.mu.RLock()
	defer s.mu.RUnlock()
	j := s.jobs[jobKey(ref["projectId"].(string), ref["jobId"].(string))]
	if j.err != nil {
		return nil, j.err
	}
	out := s.resultsPage(r, j)
	out["kind"] = "bigquery#queryResponse"
	return out, nil
}

// getQueryResults serves jobs.getQueryResults: a page of a query's rows.
// A failed job's error is the call's error.
func (s *Server) getQueryResults(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, err := s.jobLocked(r)
	if err != nil {
		return nil, err
	}
	if j.err != nil {
		return nil, j.err
	}
	if cfg, _ := j.doc["configuration"].(object); cfg["query"] == nil {
		return nil, errInvalid("Job %s is not a query job", j.doc["id"])
	}
	out := s.resultsPage(r, j)
	out["kind"] = "bigquery#getQueryResultsResponse"
	out["etag"] = j.doc["etag"]
	return out, nil
}

// resultsPage is the response members shared by jobs.query and
// jobs.getQueryResults, with the page of rows the request asks for.
func (s *Server) resultsPage(r *http.Request, j *job) object {
	stats := j.doc["statistics"].(object)
	out := object{
		"jobReference":        j.doc["jobReference"],
		"jobComplete":         true,
		"cacheHit":            false,
		"totalBytesProcessed": stats["totalBytesProcessed"],
	}
	if j.isDML {
		out["numDmlAffectedRows"] = strconv.FormatInt(j.dml, 10)
	}
	res := j.result
	if res == nil {
		return out
	}
	out["schema"] = renderSchema(res.fields)
	out["totalRows"] = strconv.Itoa(len(res.rows))
	q := r.URL.Query()
	start, limit := 0, defaultPageRows
	if v := q.Get("pageToken"); v != "" {
		start, _ = strconv.Atoi(v)
	} else if v := q.Get("startIndex"); v != "" {
		start, _ = strconv.Atoi(v)
	}
	if v := q.Get("maxResults"); v != "" {
		n, _ := strconv.Atoi(v)
		if n == 0 && r.Method == http.MethodGet {
			return out // the client waits for completion with maxResults=0
		}
		if n > 0 {
			limit = n
		}
	}
	// jobs.query (POST) carries its format options in the body; the client
	// asks for int64 timestamps there as in getQueryResults.
	int64Time := q.Get("formatOptions.useInt64Timestamp") == "true" || r.Method == http.MethodPost
	start = max(0, min(start, len(res.rows)))
	end := min(start+limit, len(res.rows))
	rows := make([]any, 0, end-start)
	for _, row := range res.rows[start:end] {
		rows = append(rows, encodeRecord(row, res.fields, int64Time))
	}
	out["rows"] = rows
	if end < len(res.rows) {
		out["pageToken"] = strconv.Itoa(end)
	}
	return out
}

// renderSchema is a schema in the REST form.
func renderSchema(fields []*field) object {
	return object{"fields": renderFields(fields)}
}

func renderFields(fields []*field) []any {
	out := make([]any, len(fields))
	for i, f := range fields {
		o := object{"name": f.Name, "type": f.Type, "mode": f.Mode}
		if len(f.Fields) > 0 {
			o["fields"] = renderFields(f.Fields)
		}
		out[i] = o
	}
	return out
}

// jsonInt reads an int64 the REST API sends as a string or a number.
func jsonInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	case float64:
		return int64(n), true
	}
	return 0, false
}

func msTime(v any) (time.Time, bool) {
	n, ok := jsonInt(v)
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(n).UTC(), true
}
