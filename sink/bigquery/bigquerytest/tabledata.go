package bigquerytest

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
)

// defaultPageRows bounds a tabledata.list page when the caller sets no
// maxResults, so that paging is exercised on big tables.
const defaultPageRows = 10000

// listTableData serves tabledata.list, so that Table.Read works. The page
// token is the index of the next row.
func (s *Server) listTableData(r *http.Request) (any, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.tableFromPathLocked(r)
	if err != nil {
		return nil, err
	}
	if t.isView() {
		return nil, errInvalid("Cannot list a table of type VIEW.")
	}
	q := r.URL.Query()
	start, limit := 0, defaultPageRows
	if v := q.Get("pageToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errInvalid("Invalid page token %q", v)
		}
		start = n
	} else if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errInvalid("Invalid startIndex %q", v)
		}
		start = n
	}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errInvalid("Invalid maxResults %q", v)
		}
		if n > 0 {
			limit = n
		}
	}
	int64Time := q.Get("formatOptions.useInt64Timestamp") == "true"
	live := s.liveRowsLocked(t)
	start = min(start, len(live))
	end := min(start+limit, len(live))
	fields := t.current().fields
	rows := make([]any, 0, end-start)
	for _, row := range live[start:end] {
		rows = append(rows, encodeRecord(projectRow(row, fields), fields, int64Time))
	}
	out := object{
		"kind":      "bigquery#tableDataList",
		"etag":      t.doc["etag"],
		"totalRows": strconv.Itoa(len(live)),
		"rows":      rows,
	}
	if end < len(live) {
		out["pageToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// encodeRecord renders a row in the REST "f"/"v" shape, scalars as strings.
func encodeRecord(row map[string]any, fields []*field, int64Time bool) object {
	cells := make([]any, len(fields))
	for i, f := range fields {
		cells[i] = object{"v": encodeCell(row[f.Name], f, int64Time)}
	}
	return object{"f": cells}
}

func encodeCell(v any, f *field, int64Time bool) any {
	if list, ok := v.([]any); ok && f.repeated() {
		out := make([]any, len(list))
		for i, e := range list {
			out[i] = object{"v": encodeScalar(e, f, int64Time)}
		}
		return out
	}
	return encodeScalar(v, f, int64Time)
}

func encodeScalar(v any, f *field, int64Time bool) any {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return encodeRecord(x, f.Fields, int64Time)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		if f.Type == typeDate {
			return x.Format("2006-01-02")
		}
		if int64Time {
			return strconv.FormatInt(x.UnixMicro(), 10)
		}
		return strconv.FormatFloat(float64(x.UnixMicro())/1e6, 'E', -1, 64)
	}
	return v
}
