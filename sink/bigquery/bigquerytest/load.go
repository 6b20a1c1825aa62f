package bigquerytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
)

// Load jobs take their data from a media upload (multipart or
// resumable, as the client sends it), as newline-delimited JSON or
// Parquet. gs:// URIs, CSV, Avro, ORC and schema autodetection are
// refused.

// maxUploadBytes bounds an upload held in memory.
const maxUploadBytes = 1 << 30

// handleUpload serves the upload endpoint of jobs.insert.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut || r.URL.Query().Get("upload_id") != "" {
		s.resumableChunk(w, r)
		return
	}
	switch r.URL.Query().Get("uploadType") {
	case "multipart":
		body, media, err := readMultipart(r)
		if err != nil {
			writeError(w, err)
			return
		}
		s.handle(func(r *http.Request) (any, *apiError) { return s.runJob(r, body, media) })(w, r)
	case "resumable":
		body, err := decodeBody(r)
		if err != nil {
			writeError(w, err)
			return
		}
		s.mu.Lock()
		id := strconv.FormatUint(s.nextSerialLocked(), 10)
		s.uploads[id] = &upload{body: body}
		s.mu.Unlock()
		q := r.URL.Query()
		q.Set("upload_id", id)
		w.Header().Set("Location", "http://"+r.Host+r.URL.Path+"?"+q.Encode())
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, errInvalid("bigquerytest: unsupported: uploadType %q", r.URL.Query().Get("uploadType")))
	}
}

// upload is a resumable upload in progress.
type upload struct {
	body object
	data []byte
}

// resumableChunk takes one chunk of a resumable upload: "bytes a-b/*"
// asks for more, "bytes a-b/n" (or "bytes */n") ends it and runs the job.
func (s *Server) resumableChunk(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("upload_id")
	s.mu.Lock()
	u := s.uploads[id]
	s.mu.Unlock()
	if u == nil {
		writeError(w, errNotFound("Upload %s", id))
		return
	}
	chunk, err := io.ReadAll(io.LimitReader(r.Body, maxUploadBytes))
	if err != nil {
		writeError(w, errInvalid("Upload read failed: %v", err))
		return
	}
	s.mu.Lock()
	u.data = append(u.data, chunk...)
	size := len(u.data)
	s.mu.Unlock()
	cr := r.Header.Get("Content-Range")
	total := cr[strings.LastIndexByte(cr, '/')+1:]
	if total == "*" {
		if size > 0 {
			w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", size-1))
		}
		// Google's upload protocol: 308 means "resume incomplete", sent as
		// 200 with an override header when the client asks.
		if r.Header.Get("X-GUploader-No-308") == "yes" {
			w.Header().Set("X-Http-Status-Code-Override", "308")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusPermanentRedirect)
		return
	}
	s.mu.Lock()
	delete(s.uploads, id)
	s.mu.Unlock()
	s.handle(func(r *http.Request) (any, *apiError) { return s.runJob(r, u.body, u.data) })(w, r)
}

func readMultipart(r *http.Request) (object, []byte, *apiError) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, nil, errInvalid("Invalid multipart request: %v", err)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, errInvalid("Invalid multipart request: %v", err)
		}
		b, err := io.ReadAll(io.LimitReader(p, maxUploadBytes))
		if err != nil {
			return nil, nil, errInvalid("Invalid multipart request: %v", err)
		}
		parts = append(parts, b)
	}
	if len(parts) != 2 {
		return nil, nil, errInvalid("Invalid multipart request: %d parts, want metadata and media", len(parts))
	}
	dec := json.NewDecoder(bytes.NewReader(parts[0]))
	dec.UseNumber()
	var body object
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, nil, errInvalid("Invalid JSON payload received: %v", err)
	}
	return body, parts[1], nil
}

// loadError is a load job's failure: BigQuery's summary with each bad
// row's error.
func loadError(format string, rowErrs []string) *apiError {
	e := errInvalid("Error while reading data, error message: %s table encountered too many errors, giving up. Rows: %d; errors: %d. Please look into the errors[] collection for more details.",
		format, len(rowErrs), len(rowErrs))
	for _, m := range rowErrs {
		e.details = append(e.details, errInvalid("Error while reading data, error message: %s", m))
	}
	return e
}

// runLoadLocked runs a load job: the data is read against the schema (the
// job's, else the table's; a Parquet file's own when neither exists) and
// written with the job's dispositions, all or nothing.
func (s *Server) runLoadLocked(ctx context.Context, project string, cfg object, media []byte, j *job) *apiError {
	if uris, _ := cfg["sourceUris"].([]any); len(uris) > 0 {
		return errInvalid("bigquerytest: unsupported: load jobs from URIs (%v); upload the data", uris[0])
	}
	if media == nil {
		return errInvalid("Load configuration must specify at least one source URI")
	}
	if auto, _ := cfg["autodetect"].(bool); auto {
		return errInvalid("bigquerytest: unsupported: schema autodetection")
	}
	dst, _ := cfg["destinationTable"].(object)
	if dst == nil {
		return errInvalid("Load configuration must specify a destination table")
	}
	schema, err := parseSchema(cfg["schema"])
	if err != nil {
		return err
	}
	if schema == nil {
		ref := tableRef{project: str(dst["projectId"]), dataset: str(dst["datasetId"]), table: str(dst["tableId"])}
		if ref.project == "" {
			ref.project = project
		}
		ref.table, _, _ = strings.Cut(ref.table, "$")
		if ds := s.datasets[ref.project+":"+ref.dataset]; ds != nil {
			if t := s.liveTableLocked(ds, ref.table); t != nil && !t.isView() {
				schema = t.current().fields
			}
		}
	}
	format := str(cfg["sourceFormat"])
	maxBad, _ := jsonInt(cfg["maxBadRecords"])
	ignoreUnknown, _ := cfg["ignoreUnknownValues"].(bool)
	var res *result
	switch format {
	case "NEWLINE_DELIMITED_JSON":
		if schema == nil {
			return errInvalid("No schema specified on job or table.")
		}
		rows, rowErrs := readNDJSON(media, schema, ignoreUnknown)
		if int64(len(rowErrs)) > maxBad {
			return loadError("JSON", rowErrs)
		}
		res = &result{fields: schema, rows: rows}
	case "PARQUET":
		e, engErr := s.engineLocked(ctx)
		if engErr != nil {
			return &apiError{code: 500, reason: "internalError", message: engErr.Error()}
		}
		var perr *apiError
		res, perr = readParquet(ctx, e, media, schema)
		if perr != nil {
			return perr
		}
	case "", "CSV":
		return errInvalid("bigquerytest: unsupported: CSV loads (set sourceFormat to NEWLINE_DELIMITED_JSON or PARQUET)")
	default:
		return errInvalid("bigquerytest: unsupported: %s loads", format)
	}
	var size int64
	for _, r := range res.rows {
		for _, f := range res.fields {
			size += valueBytes(r[f.Name], f)
		}
	}
	stats := j.doc["statistics"].(object)
	stats["load"] = object{"inputFiles": "1", "inputFileBytes": strconv.Itoa(len(media)), "outputRows": strconv.Itoa(len(res.rows)),
		"outputBytes": strconv.FormatInt(size, 10), "badRecords": "0"}
	return s.writeDestinationLocked(project, cfg, dst, res, "WRITE_APPEND", true)
}

// readNDJSON reads newline-delimited JSON rows against a schema. Each bad
// row gives one error; good rows are returned.
func readNDJSON(data []byte, schema []*field, ignoreUnknown bool) ([]map[string]any, []string) {
	var rows []map[string]any
	var errs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 100<<20)
	pos := 0
	for sc.Scan() {
		line := sc.Bytes()
		start := pos
		pos += len(line) + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var o map[string]any
		if err := dec.Decode(&o); err != nil || o == nil {
			errs = append(errs, fmt.Sprintf("JSON parsing error in row starting at position %d: Parser terminated before end of string", start))
			continue
		}
		row, err := jsonRecord(o, schema, "", ignoreUnknown)
		if err != nil {
			errs = append(errs, fmt.Sprintf("JSON parsing error in row starting at position %d: %v", start, err))
			continue
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err.Error())
	}
	return rows, errs
}

func jsonRecord(o map[string]any, fields []*field, prefix string, ignoreUnknown bool) (map[string]any, error) {
	out := make(map[string]any, len(fields))
	for k, v := range o {
		f := lookup(fields, k)
		if f == nil {
			if ignoreUnknown {
				continue
			}
			return nil, fmt.Errorf("No such field: %s%s.", prefix, k) //nolint:staticcheck // BigQuery's wording.
		}
		val, err := jsonValue(v, f, prefix, ignoreUnknown)
		if err != nil {
			return nil, err
		}
		out[f.Name] = val
	}
	for _, f := range fields {
		if f.Mode == modeRequired && out[f.Name] == nil {
			return nil, fmt.Errorf("Missing required field: %s%s.", prefix, f.Name) //nolint:staticcheck // BigQuery's wording.
		}
	}
	return out, nil
}

func jsonValue(v any, f *field, prefix string, ignoreUnknown bool) (any, error) {
	if v == nil {
		if f.repeated() {
			return []any{}, nil
		}
		return nil, nil
	}
	if f.repeated() {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("Array specified for non-repeated field: %s%s.", prefix, f.Name) //nolint:staticcheck // BigQuery's wording.
		}
		one := *f
		one.Mode = modeNullable
		out := make([]any, 0, len(list))
		for _, e := range list {
			if e == nil {
				return nil, fmt.Errorf("Only optional fields can be set to NULL. Field: %s%s; Value: NULL", prefix, f.Name) //nolint:staticcheck // BigQuery's wording.
			}
			c, err := jsonValue(e, &one, prefix, ignoreUnknown)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	if _, ok := v.([]any); ok {
		return nil, fmt.Errorf("Array specified for non-repeated field: %s%s.", prefix, f.Name) //nolint:staticcheck // BigQuery's wording.
	}
	bad := func() error {
		return fmt.Errorf("Could not convert value to %s. Field: %s%s; Value: %v", strings.ToLower(f.Type), prefix, f.Name, v) //nolint:staticcheck // BigQuery's wording.
	}
	scalar := func() (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	switch f.Type {
	case typeRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad()
		}
		return jsonRecord(m, f.Fields, prefix+f.Name+".", ignoreUnknown)
	case typeJSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, bad()
		}
		return string(b), nil
	case typeString, typeGeography:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		return s, nil
	}
	s, ok := scalar()
	if !ok {
		return nil, bad()
	}
	switch f.Type {
	case typeInteger:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, bad()
		}
		return n, nil
	case typeFloat:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil && s != "NaN" && s != "Infinity" && s != "-Infinity" {
			return nil, bad()
		}
		switch s {
		case "NaN":
			x = math.NaN()
		case "Infinity":
			x = math.Inf(1)
		case "-Infinity":
			x = math.Inf(-1)
		}
		return x, nil
	case typeBoolean:
		switch strings.ToLower(s) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, bad()
	case typeBytes:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, bad()
		}
		return b, nil
	case typeTimestamp:
		if n, ok := v.(json.Number); ok {
			sec, err := n.Float64()
			if err != nil {
				return nil, bad()
			}
			return timestampMicros(int64(math.Round(sec * 1e6)))
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return nil, bad()
		}
		return t, nil
	case typeDate:
		t, err := parseDate(s)
		if err != nil {
			return nil, bad()
		}
		return t, nil
	case typeDatetime:
		d, err := parseDatetime(s)
		if err != nil {
			return nil, bad()
		}
		return d, nil
	case typeTime:
		t, err := civil.ParseTime(s)
		if err != nil {
			return nil, bad()
		}
		return formatTime(t), nil
	case typeNumeric, typeBignumeric:
		scale, limit := 9, maxNumeric
		if f.Type == typeBignumeric {
			scale, limit = 38, maxBignumeric
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, bad()
		}
		n := roundScaled(r, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		if n.CmpAbs(limit) > 0 {
			return nil, bad()
		}
		return formatScaled(n, scale), nil
	case typeInterval:
		iv, err := parseInterval(s)
		if err != nil {
			return nil, bad()
		}
		return iv, nil
	}
	return nil, bad()
}

// readParquet reads a Parquet file with DuckDB. Its columns must match
// the schema's by name with compatible types; without a schema, the
// file's columns become the table's.
func readParquet(ctx context.Context, e *engine, data []byte, schema []*field) (*result, *apiError) {
	f, err := os.CreateTemp("", "bigquerytest-*.parquet")
	if err != nil {
		return nil, &apiError{code: 500, reason: "internalError", message: err.Error()}
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, &apiError{code: 500, reason: "internalError", message: err.Error()}
	}
	if err := f.Close(); err != nil {
		return nil, &apiError{code: 500, reason: "internalError", message: err.Error()}
	}
	res, err := e.query(ctx, "SELECT * FROM read_parquet("+quoteString(f.Name())+")")
	if err != nil {
		head, _, _ := strings.Cut(err.Error(), "\n")
		return nil, errInvalid("Error while reading data, error message: Failed to read Parquet file: %s", head)
	}
	if schema == nil {
		return res, nil
	}
	rows := make([]map[string]any, len(res.rows))
	for i := range rows {
		rows[i] = map[string]any{}
	}
	for _, pf := range res.fields {
		f := lookup(schema, pf.Name)
		if f == nil {
			return nil, errInvalid("Error while reading data, error message: Parquet column '%s' is not in the schema of the destination table", pf.Name)
		}
		for i, r := range res.rows {
			v, err := coerceParquet(r[pf.Name], pf, f)
			if err != nil {
				return nil, errInvalid("Error while reading data, error message: %v", err)
			}
			rows[i][f.Name] = v
		}
	}
	for _, f := range schema {
		if f.Mode == modeRequired && lookup(res.fields, f.Name) == nil {
			return nil, errInvalid("Error while reading data, error message: Required field %s is missing from the Parquet file", f.Name)
		}
	}
	return &result{fields: schema, rows: rows}, nil
}

// coerceParquet converts a value read from Parquet to a column's type
// where BigQuery's Parquet load does: integers, floats, strings, bytes,
// booleans, dates and times as themselves; timestamps with or without
// UTC adjustment into TIMESTAMP; decimals into NUMERIC; strings into JSON.
func coerceParquet(v any, from, to *field) (any, error) {
	mismatch := fmt.Errorf("Parquet column '%s' has type %s which does not match the target type %s", from.Name, from.Type, to.Type) //nolint:staticcheck // BigQuery's wording.
	if from.repeated() != to.repeated() {
		return nil, mismatch
	}
	if v == nil {
		return nil, nil
	}
	if to.repeated() {
		list, _ := v.([]any)
		f1, t1 := *from, *to
		f1.Mode, t1.Mode = modeNullable, modeNullable
		out := make([]any, len(list))
		for i, e := range list {
			c, err := coerceParquet(e, &f1, &t1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	switch {
	case from.Type == to.Type && to.Type != typeRecord:
		return v, nil
	case to.Type == typeRecord && from.Type == typeRecord:
		m, _ := v.(map[string]any)
		out := map[string]any{}
		for _, sf := range from.Fields {
			tf := lookup(to.Fields, sf.Name)
			if tf == nil {
				return nil, mismatch
			}
			c, err := coerceParquet(m[sf.Name], sf, tf)
			if err != nil {
				return nil, err
			}
			out[tf.Name] = c
		}
		return out, nil
	case to.Type == typeTimestamp && from.Type == typeDatetime:
		d, err := civil.ParseDateTime(v.(string))
		if err != nil {
			return nil, mismatch
		}
		return d.In(time.UTC), nil
	case to.Type == typeJSON && from.Type == typeString:
		if !json.Valid([]byte(v.(string))) {
			return nil, mismatch
		}
		return v, nil
	case to.Type == typeString && from.Type == typeBytes:
		return string(v.([]byte)), nil
	}
	return nil, mismatch
}
