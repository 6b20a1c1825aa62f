package bigquerytest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const restPrefix = "/bigquery/v2/projects/{project}/datasets"

var (
	datasetID = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	tableID   = regexp.MustCompile(`^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$`)
)

// Server-owned members of the resources: whatever a request says about them
// is overwritten.
var (
	datasetReadOnly = []string{"kind", "id", "selfLink", "datasetReference", "etag", "creationTime", "lastModifiedTime", "location"}
	tableReadOnly   = []string{"kind", "id", "selfLink", "tableReference", "type", "location", "etag", "creationTime", "lastModifiedTime", "numRows", "numBytes", "numLongTermBytes", "streamingBuffer"}
)

func (s *Server) restHandler() http.Handler {
	mux := http.NewServeMux()
	ds := restPrefix + "/{dataset}"
	tb := ds + "/tables/{table}"
	mux.HandleFunc("POST "+restPrefix, s.handle(s.insertDataset))
	mux.HandleFunc("GET "+restPrefix, s.handle(s.listDatasets))
	mux.HandleFunc("GET "+ds, s.handle(s.getDataset))
	mux.HandleFunc("PATCH "+ds, s.handle(s.patchDataset))
	mux.HandleFunc("PUT "+ds, s.handle(s.patchDataset))
	mux.HandleFunc("DELETE "+ds, s.handle(s.deleteDataset))
	mux.HandleFunc("POST "+ds+"/tables", s.handle(s.insertTable))
	mux.HandleFunc("GET "+ds+"/tables", s.handle(s.listTables))
	mux.HandleFunc("GET "+tb, s.handle(s.getTable))
	mux.HandleFunc("PATCH "+tb, s.handle(s.patchTable))
	mux.HandleFunc("PUT "+tb, s.handle(s.patchTable))
	mux.HandleFunc("DELETE "+tb, s.handle(s.deleteTable))
	mux.HandleFunc("GET "+tb+"/data", s.handle(s.listTableData))
	s.jobRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{code: http.StatusNotFound, reason: "notFound", message: "Not found: URL " + r.URL.Path})
	})
	return mux
}

// handle adapts a method that returns a resource (nil for 204 No Content) or
// an API error.
func (s *Server) handle(f func(*http.Request) (any, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		switch {
		case err != nil:
			writeError(w, err)
		case v == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			if o, ok := v.(object); ok && s.cfg.noETags {
				delete(o, "etag")
			}
			writeJSON(w, http.StatusOK, v)
		}
	}
}

func decodeBody(r *http.Request) (object, *apiError) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var o object
	if err := dec.Decode(&o); err != nil {
		return nil, errInvalid("Invalid JSON payload received: %v", err)
	}
	if o == nil {
		return nil, errInvalid("Invalid JSON payload received: not an object")
	}
	return o, nil
}

// checkIfMatch honours an If-Match precondition against the current etag.
func checkIfMatch(r *http.Request, etag string) *apiError {
	want := r.Header.Get("If-Match")
	if want == "" || want == "*" || want == etag || strings.Trim(want, `"`) == etag {
		return nil
	}
	return errConditionNotMet()
}

func (s *Server) etagLocked() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.nextSerialLocked())
	return base64.StdEncoding.EncodeToString(b[:])
}

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// --- datasets ---

func (s *Server) insertDataset(r *http.Request) (any, *apiError) {
	body, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	project := r.PathValue("project")
	ref, _ := body["datasetReference"].(object)
	id, _ := ref["datasetId"].(string)
	if p, _ := ref["projectId"].(string); p != "" && p != project {
		return nil, errInvalid("Dataset project %s does not match request project %s", p, project)
	}
	if !datasetID.MatchString(id) || len(id) > 1024 {
		return nil, errInvalid("Invalid dataset ID %q. Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := project + ":" + id
	if s.datasets[key] != nil {
		return nil, errDuplicate("Dataset %s", key)
	}
	location, _ := body["location"].(string)
	if location == "" {
		location = "US"
	}
	now := s.cfg.now()
	body["kind"] = "bigquery#dataset"
	body["id"] = key
	body["datasetReference"] = object{"projectId": project, "datasetId": id}
	body["location"] = location
	body["creationTime"] = millis(now)
	body["lastModifiedTime"] = millis(now)
	body["etag"] = s.etagLocked()
	s.datasets[key] = &dataset{doc: body, tables: map[string]*table{}}
	return body, nil
}

func (s *Server) datasetLocked(r *http.Request) (*dataset, *apiError) {
	key := r.PathValue("project") + ":" + r.PathValue("dataset")
	ds := s.datasets[key]
	if ds == nil {
		return nil, errNotFound("Dataset %s", key)
	}
	return ds, nil
}

func (s *Server) getDataset(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ds, err := s.datasetLocked(r)
	if err != nil {
		return nil, err
	}
	return deepCopy(ds.doc), nil
}

func (s *Server) listDatasets(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	prefix := r.PathValue("project") + ":"
	var keys []string
	for k := range s.datasets {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	list := []any{}
	for _, k := range keys {
		d := s.datasets[k].doc
		list = append(list, object{"kind": "bigquery#dataset", "id": d["id"], "datasetReference": d["datasetReference"], "location": d["location"]})
	}
	return object{"kind": "bigquery#datasetList", "datasets": list}, nil
}

// patchDataset serves datasets.patch (a JSON merge patch) and datasets.update
// (PUT, a replacement).
func (s *Server) patchDataset(r *http.Request) (any, *apiError) {
	body, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.datasetLocked(r)
	if err != nil {
		return nil, err
	}
	next, err := updated(r, ds.doc, body, datasetReadOnly)
	if err != nil {
		return nil, err
	}
	next["etag"] = s.etagLocked()
	next["lastModifiedTime"] = millis(s.cfg.now())
	ds.doc = next
	return deepCopy(next), nil
}

func (s *Server) deleteDataset(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.datasetLocked(r)
	if err != nil {
		return nil, err
	}
	live := 0
	for _, t := range ds.tables {
		if !s.expired(t) {
			live++
		}
	}
	if live > 0 && r.URL.Query().Get("deleteContents") != "true" {
		return nil, &apiError{code: http.StatusBadRequest, reason: "resourceInUse", message: "Dataset " + ds.doc["id"].(string) + " is still in use"}
	}
	delete(s.datasets, ds.doc["id"].(string))
	return nil, nil
}

// --- tables ---

func (s *Server) insertTable(r *http.Request) (any, *apiError) {
	body, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	ref := tableRef{project: r.PathValue("project"), dataset: r.PathValue("dataset")}
	tr, _ := body["tableReference"].(object)
	ref.table, _ = tr["tableId"].(string)
	if !tableID.MatchString(ref.table) || len(ref.table) > 1024 {
		return nil, errInvalid("Invalid table ID %q.", ref.table)
	}
	if d, _ := tr["datasetId"].(string); d != "" && d != ref.dataset {
		return nil, errInvalid("Table dataset %s does not match request dataset %s", d, ref.dataset)
	}
	isView := false
	if v, ok := body["view"].(object); ok {
		if q, _ := v["query"].(string); strings.TrimSpace(q) == "" {
			return nil, errInvalid("View %s has no query", ref)
		}
		isView = true
	}
	fields, err := parseSchema(body["schema"])
	if err != nil {
		return nil, err
	}
	if err := checkLayout(body, fields); err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.datasetLocked(r)
	if err != nil {
		return nil, err
	}
	if s.liveTableLocked(ds, ref.table) != nil {
		return nil, errDuplicate("Table %s", ref)
	}
	if isView {
		if err := s.checkViewLocked(ref.project, body["view"].(object)); err != nil {
			return nil, err
		}
	}
	now := s.cfg.now()
	s.applyDefaultExpirationLocked(ds, body, now)
	typ := "TABLE"
	if isView {
		typ = "VIEW"
	}
	body["kind"] = "bigquery#table"
	body["id"] = ref.String()
	body["tableReference"] = object{"projectId": ref.project, "datasetId": ref.dataset, "tableId": ref.table}
	body["type"] = typ
	body["location"] = ds.doc["location"]
	body["creationTime"] = millis(now)
	body["lastModifiedTime"] = millis(now)
	body["etag"] = s.etagLocked()
	t := &table{
		ref:     ref,
		doc:     body,
		schemas: []schemaVersion{{id: s.nextSerialLocked(), fields: fields, since: now}},
	}
	ds.tables[ref.table] = t
	return s.renderLocked(t), nil
}

// renderLocked is the table resource as tables.get returns it: numRows
// and numBytes (logical bytes, as a query's estimate counts them) of the
// rows of unexpired partitions.
func (s *Server) renderLocked(t *table) object {
	doc := deepCopy(t.doc).(object)
	if !t.isView() {
		rows := s.liveRowsLocked(t)
		fields := t.current().fields
		var n int64
		for _, r := range rows {
			row := projectRow(r, fields)
			for _, f := range fields {
				n += valueBytes(row[f.Name], f)
			}
		}
		doc["numRows"] = strconv.Itoa(len(rows))
		doc["numBytes"] = strconv.FormatInt(n, 10)
		doc["numLongTermBytes"] = "0"
	}
	return doc
}

func (s *Server) tableFromPathLocked(r *http.Request) (*table, *apiError) {
	ds, err := s.datasetLocked(r)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("table")
	t := s.liveTableLocked(ds, id)
	if t == nil {
		return nil, errNotFound("Table %s:%s.%s", r.PathValue("project"), r.PathValue("dataset"), id)
	}
	return t, nil
}

func (s *Server) getTable(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.tableFromPathLocked(r)
	if err != nil {
		return nil, err
	}
	return s.renderLocked(t), nil
}

func (s *Server) listTables(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ds, err := s.datasetLocked(r)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(ds.tables))
	for id, t := range ds.tables {
		if !s.expired(t) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	list := []any{}
	for _, id := range ids {
		d := ds.tables[id].doc
		list = append(list, object{"kind": "bigquery#table", "id": d["id"], "tableReference": d["tableReference"], "type": d["type"], "creationTime": d["creationTime"]})
	}
	return object{"kind": "bigquery#tableList", "tables": list, "totalItems": len(list)}, nil
}

// patchTable serves tables.patch (a JSON merge patch, which is how the Go
// client's Table.Update sends only the members it changes) and tables.update
// (PUT, a replacement). Both enforce BigQuery's schema evolution rules.
func (s *Server) patchTable(r *http.Request) (any, *apiError) {
	body, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tableFromPathLocked(r)
	if err != nil {
		return nil, err
	}
	next, err := updated(r, t.doc, body, tableReadOnly)
	if err != nil {
		return nil, err
	}
	if err := checkTableChange(t, next); err != nil {
		return nil, err
	}
	if v, _ := next["view"].(object); v != nil {
		if err := s.checkViewLocked(t.ref.project, v); err != nil {
			return nil, err
		}
	}
	fields, err := parseSchema(next["schema"])
	if err != nil {
		return nil, err
	}
	if !t.isView() {
		if err := checkEvolution(t.ref.String(), t.current().fields, fields); err != nil {
			return nil, err
		}
	}
	if err := checkLayout(next, fields); err != nil {
		return nil, err
	}
	now := s.cfg.now()
	next["etag"] = s.etagLocked()
	next["lastModifiedTime"] = millis(now)
	t.doc = next
	if !reflect.DeepEqual(fields, t.current().fields) {
		t.schemas = append(t.schemas, schemaVersion{id: s.nextSerialLocked(), fields: fields, since: now})
		t.version++
	}
	return s.renderLocked(t), nil
}

// updated is the document a patch (JSON merge patch) or update (PUT,
// replacement) of doc makes, once its If-Match precondition holds; members
// in readOnly keep their current values (or stay absent).
func updated(r *http.Request, doc, body object, readOnly []string) (object, *apiError) {
	if err := checkIfMatch(r, doc["etag"].(string)); err != nil {
		return nil, err
	}
	next := body
	if r.Method == http.MethodPatch {
		next = mergePatch(deepCopy(doc).(object), body)
	}
	for _, k := range readOnly {
		if v, ok := doc[k]; ok {
			next[k] = v
		} else {
			delete(next, k)
		}
	}
	return next, nil
}

// checkTableChange rejects changes BigQuery refuses besides schema ones:
// tables and views cannot turn into each other, and a partitioning spec is
// fixed at creation (only its expiration may change).
func checkTableChange(t *table, next object) *apiError {
	v, _ := next["view"].(object)
	switch {
	case t.isView() && v == nil:
		return errInvalid("Cannot convert view %s to a table", t.ref)
	case !t.isView() && v != nil:
		return errInvalid("Cannot convert table %s to a view", t.ref)
	case v != nil:
		if q, _ := v["query"].(string); strings.TrimSpace(q) == "" {
			return errInvalid("View %s has no query", t.ref)
		}
	}
	old, _ := t.doc["timePartitioning"].(object)
	cur, _ := next["timePartitioning"].(object)
	switch {
	case old == nil && cur != nil:
		return errInvalid("Cannot convert non-partitioned table %s to a partitioned table", t.ref)
	case old != nil && cur == nil:
		return errInvalid("Cannot convert partitioned table %s to a non-partitioned table", t.ref)
	case old != nil && (old["type"] != cur["type"] || !strings.EqualFold(str(old["field"]), str(cur["field"]))):
		return errInvalid("Cannot change partitioning spec for table %s", t.ref)
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func (s *Server) deleteTable(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tableFromPathLocked(r)
	if err != nil {
		return nil, err
	}
	delete(s.datasets[t.ref.project+":"+t.ref.dataset].tables, t.ref.table)
	return nil, nil
}

// mergePatch applies an RFC 7386 JSON merge patch to target and returns it.
func mergePatch(target, patch object) object {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case object:
			t, ok := target[k].(object)
			if !ok {
				t = object{}
			}
			target[k] = mergePatch(t, pv)
		default:
			target[k] = deepCopy(v)
		}
	}
	return target
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case object:
		out := make(object, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
