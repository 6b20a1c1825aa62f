package bigquerytest

import (
	"strconv"
	"time"
)

// Expiration: a table whose expirationTime has passed is gone, as in
// BigQuery (tables.get answers 404, lists and queries leave it out, and
// its name can be taken again); a dataset's defaultTableExpirationMs
// gives new tables an expirationTime. Rows of a time-partitioned table
// whose partition started longer than timePartitioning.expirationMs ago
// are left out of queries, tabledata.list and Rows.

// expiredLocked reports whether a table's expirationTime has passed.
func (s *Server) expired(t *table) bool {
	at, ok := msTime(t.doc["expirationTime"])
	return ok && at.UnixMilli() > 0 && !s.cfg.now().Before(at)
}

// liveTableLocked is a dataset's table by id unless it has expired.
func (s *Server) liveTableLocked(ds *dataset, id string) *table {
	t := ds.tables[id]
	if t == nil || s.expired(t) {
		return nil
	}
	return t
}

// applyDefaultExpirationLocked gives a new table the dataset's default
// expiration unless it has its own.
func (s *Server) applyDefaultExpirationLocked(ds *dataset, doc object, now time.Time) {
	if _, ok := doc["expirationTime"]; ok {
		return
	}
	if ms, ok := jsonInt(ds.doc["defaultTableExpirationMs"]); ok && ms > 0 {
		doc["expirationTime"] = strconv.FormatInt(now.UnixMilli()+ms, 10)
	}
}

// liveRowsLocked is a table's rows less those of expired partitions.
func (s *Server) liveRowsLocked(t *table) []map[string]any {
	tp, _ := t.doc["timePartitioning"].(object)
	ms, ok := jsonInt(tp["expirationMs"])
	col := str(tp["field"])
	if !ok || ms <= 0 || col == "" {
		return t.rows
	}
	cutoff := s.cfg.now().Add(-time.Duration(ms) * time.Millisecond)
	fields := t.current().fields
	out := make([]map[string]any, 0, len(t.rows))
	for _, r := range t.rows {
		if v, ok := partitionTime(projectRow(r, fields), fields, col); ok {
			start, _ := partitionRange(v, str(tp["type"]))
			if start.Before(cutoff) {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
