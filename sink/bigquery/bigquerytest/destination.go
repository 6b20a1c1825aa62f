package bigquerytest

import (
	"regexp"
	"strings"
	"time"
)

var decorator = regexp.MustCompile(`^(.+)\$(\d{4}|\d{6}|\d{8}|\d{10})$`)

// partitionOf parses a partition decorator for a partitioning type:
// YYYYMMDD for DAY, YYYYMMDDHH for HOUR, YYYYMM for MONTH, YYYY for YEAR.
func partitionOf(id, typ string) (time.Time, time.Time, bool) {
	layouts := map[string]string{"DAY": "20060102", "HOUR": "2006010215", "MONTH": "200601", "YEAR": "2006"}
	l := layouts[typ]
	if l == "" || len(id) != len(l) {
		return time.Time{}, time.Time{}, false
	}
	t, err := time.Parse(l, id)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	s, e := partitionRange(t, typ)
	return s, e, true
}

// writeDestinationLocked writes a query's result to its destination table
// (or one partition of it, for a table$decorator), honouring the create
// and write dispositions. It checks everything before changing anything,
// so a failed job leaves the table as it was.
//
// Queries and loads differ in their default write disposition, and a load
// names its fields as the schema does, so its duplicate check is the
// schema's own.
func (s *Server) writeDestinationLocked(project string, q, dst object, res *result, defaultWrite string, load bool) *apiError {
	ref := tableRef{project: str(dst["projectId"]), dataset: str(dst["datasetId"]), table: str(dst["tableId"])}
	if ref.project == "" {
		ref.project = project
	}
	part := ""
	if m := decorator.FindStringSubmatch(ref.table); m != nil {
		ref.table, part = m[1], m[2]
	} else if strings.Contains(ref.table, "$") {
		return errInvalid("Invalid table ID %q.", ref.table)
	}
	create := str(q["createDisposition"])
	if create == "" {
		create = "CREATE_IF_NEEDED"
	}
	write := str(q["writeDisposition"])
	if write == "" {
		write = defaultWrite
	}
	ds := s.datasets[ref.project+":"+ref.dataset]
	if ds == nil {
		return errNotFound("Dataset %s:%s was not found in location US", ref.project, ref.dataset)
	}
	if seen := map[string]bool{}; !load {
		for _, f := range res.fields {
			k := strings.ToLower(f.Name)
			if seen[k] {
				return errInvalidQuery("Duplicate column names in the result are not supported. Found duplicate(s): %s", f.Name)
			}
			seen[k] = true
		}
	}
	t := s.liveTableLocked(ds, ref.table)
	if t == nil {
		if create == "CREATE_NEVER" {
			return errNotFound("Table %s was not found in location US", ref)
		}
		return s.createFromResultLocked(ds, ref, q, part, res)
	}
	if t.isView() {
		return errInvalid("Cannot write to view %s", ref)
	}
	tp, _ := t.doc["timePartitioning"].(object)
	var pstart, pend time.Time
	if part != "" {
		if tp == nil {
			return errInvalid("Cannot write to partition %s of table %s: the table is not partitioned", part, ref)
		}
		if str(tp["field"]) == "" {
			return errInvalid("bigquerytest: unsupported: partition decorators on ingestion-time partitioned table %s", ref)
		}
		var ok bool
		pstart, pend, ok = partitionOf(part, str(tp["type"]))
		if !ok {
			return errInvalid("Invalid partition decorator %s for table %s partitioned by %s", part, ref, str(tp["type"]))
		}
	}
	fields := t.current().fields
	truncateAll := write == "WRITE_TRUNCATE" && part == ""
	if !truncateAll {
		if err := checkResultSchema(ref, fields, res.fields); err != nil {
			return err
		}
	}
	rows := make([]map[string]any, len(res.rows))
	target := fields
	if truncateAll {
		target = res.fields
	}
	for i, r := range res.rows {
		rows[i] = renameRow(r, res.fields, target)
	}
	if part != "" {
		col := str(tp["field"])
		for _, r := range rows {
			v, ok := partitionTime(r, target, col)
			if !ok || v.Before(pstart) || !v.Before(pend) {
				return errInvalid("Some rows belong to different partitions rather than destination partition %s", part)
			}
		}
	}
	if err := checkRequired(target, rows); err != nil {
		return err
	}
	live := s.liveRowsLocked(t)
	switch write {
	case "WRITE_EMPTY":
		if part == "" && len(live) > 0 {
			return errDuplicate("Table %s already exists and is not empty", ref)
		}
		for _, r := range live {
			if v, ok := partitionTime(projectRow(r, fields), fields, str(tp["field"])); ok && !v.Before(pstart) && v.Before(pend) {
				return errDuplicate("Partition %s$%s already exists and is not empty", ref, part)
			}
		}
		t.rows = append(live, rows...)
	case "WRITE_APPEND":
		t.rows = append(live, rows...)
	case "WRITE_TRUNCATE":
		if part == "" {
			if err := checkLayout(t.doc, res.fields); err != nil {
				return err
			}
			t.rows = rows
			if !sameFields(fields, res.fields) {
				t.doc["schema"] = renderSchema(res.fields)
				t.schemas = append(t.schemas, schemaVersion{id: s.nextSerialLocked(), fields: res.fields, since: s.cfg.now()})
			}
			break
		}
		kept := make([]map[string]any, 0, len(live))
		for _, r := range live {
			v, ok := partitionTime(projectRow(r, fields), fields, str(tp["field"]))
			if ok && !v.Before(pstart) && v.Before(pend) {
				continue
			}
			kept = append(kept, r)
		}
		t.rows = append(kept, rows...)
	default:
		return errInvalid("Invalid value for writeDisposition: %s", write)
	}
	t.version++
	t.doc["etag"] = s.etagLocked()
	t.doc["lastModifiedTime"] = millis(s.cfg.now())
	return nil
}

func (s *Server) createFromResultLocked(ds *dataset, ref tableRef, q object, part string, res *result) *apiError {
	doc := object{"schema": renderSchema(res.fields)}
	if tp, _ := q["timePartitioning"].(object); tp != nil {
		doc["timePartitioning"] = deepCopy(tp)
	}
	if c, _ := q["clustering"].(object); c != nil {
		doc["clustering"] = deepCopy(c)
	}
	if part != "" && doc["timePartitioning"] == nil {
		return errInvalid("Cannot write to partition %s of table %s: the table does not exist and the job gives no partitioning", part, ref)
	}
	if err := checkLayout(doc, res.fields); err != nil {
		return err
	}
	now := s.cfg.now()
	doc["kind"] = "bigquery#table"
	doc["id"] = ref.String()
	doc["tableReference"] = object{"projectId": ref.project, "datasetId": ref.dataset, "tableId": ref.table}
	doc["type"] = "TABLE"
	doc["location"] = ds.doc["location"]
	doc["creationTime"] = millis(now)
	doc["lastModifiedTime"] = millis(now)
	doc["etag"] = s.etagLocked()
	s.applyDefaultExpirationLocked(ds, doc, now)
	t := &table{ref: ref, doc: doc, schemas: []schemaVersion{{id: s.nextSerialLocked(), fields: res.fields, since: now}}}
	if part != "" {
		tp := doc["timePartitioning"].(object)
		pstart, pend, ok := partitionOf(part, str(tp["type"]))
		if !ok {
			return errInvalid("Invalid partition decorator %s for table %s partitioned by %s", part, ref, str(tp["type"]))
		}
		for _, r := range res.rows {
			v, ok := partitionTime(r, res.fields, str(tp["field"]))
			if !ok || v.Before(pstart) || !v.Before(pend) {
				return errInvalid("Some rows belong to different partitions rather than destination partition %s", part)
			}
		}
	}
	t.rows = append(t.rows, res.rows...)
	ds.tables[ref.table] = t
	return nil
}

// checkResultSchema is BigQuery's check of a result written into an
// existing table without replacing its schema: the same columns, by name,
// with the same types; a REQUIRED column cannot take a NULLABLE result.
func checkResultSchema(ref tableRef, table, res []*field) *apiError {
	return checkResultAt(ref, "", table, res)
}

func checkResultAt(ref tableRef, prefix string, table, res []*field) *apiError {
	for _, f := range table {
		r := lookup(res, f.Name)
		path := prefix + f.Name
		if r == nil {
			if f.Mode == modeRequired {
				return errInvalid("Provided Schema does not match Table %s. Field %s is missing in new schema", ref, path)
			}
			continue
		}
		if r.Type != f.Type {
			return errInvalid("Provided Schema does not match Table %s. Field %s has changed type from %s to %s", ref, path, f.Type, r.Type)
		}
		if r.repeated() != f.repeated() || f.Mode == modeRequired && r.Mode != modeRequired {
			return errInvalid("Provided Schema does not match Table %s. Field %s has changed mode from %s to %s", ref, path, f.Mode, r.Mode)
		}
		if f.Type == typeRecord {
			if err := checkResultAt(ref, path+".", f.Fields, r.Fields); err != nil {
				return err
			}
		}
	}
	for _, r := range res {
		if lookup(table, r.Name) == nil {
			return errInvalid("Provided Schema does not match Table %s. Cannot add fields (field: %s%s)", ref, prefix, r.Name)
		}
	}
	return nil
}

// renameRow keys a result row by the target's column names.
func renameRow(row map[string]any, from, to []*field) map[string]any {
	out := make(map[string]any, len(to))
	for _, f := range from {
		if t := lookup(to, f.Name); t != nil {
			v := row[f.Name]
			if t.Type == typeRecord && v != nil {
				if t.repeated() {
					list, _ := v.([]any)
					conv := make([]any, len(list))
					for i, e := range list {
						m, _ := e.(map[string]any)
						conv[i] = renameRow(m, f.Fields, t.Fields)
					}
					v = conv
				} else {
					m, _ := v.(map[string]any)
					v = renameRow(m, f.Fields, t.Fields)
				}
			}
			out[t.Name] = v
		}
	}
	return out
}

// checkRequired refuses rows with NULL in a REQUIRED column.
func checkRequired(fields []*field, rows []map[string]any) *apiError {
	for _, r := range rows {
		for _, f := range fields {
			if f.Mode == modeRequired && r[f.Name] == nil {
				return errInvalid("Required field %s cannot be null", f.Name)
			}
		}
	}
	return nil
}

func sameFields(a, b []*field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type || a[i].Mode != b[i].Mode || !sameFields(a[i].Fields, b[i].Fields) {
			return false
		}
	}
	return true
}
