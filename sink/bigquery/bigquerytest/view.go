package bigquerytest

import (
	"regexp"
	"strings"
)

// A view's query is checked when the view is created or its query
// changes, as BigQuery compiles it then, for what a fake that never runs
// queries can know:
//
//   - a view is legacy SQL unless useLegacySql is false, and legacy SQL
//     does not take a `project.dataset.table` reference;
//   - every table a standard SQL view names must exist;
//   - when it reads one table, the columns of its windows' PARTITION BY
//     and ORDER BY must be columns of that table.
var (
	// tableRefs are backquoted names with a dot: tables, not columns.
	tableRefs = regexp.MustCompile("`([^`.]+(?:\\.[^`.]+){1,2})`")
	windows   = regexp.MustCompile(`(?is)\bOVER\s*\(\s*PARTITION\s+BY\s+(.+?)\s+ORDER\s+BY\s+(.+?)\)`)
	sortWords = regexp.MustCompile(`(?i)\s+(ASC|DESC|NULLS\s+FIRST|NULLS\s+LAST)\b`)
)

func (s *Server) checkViewLocked(project string, view object) *apiError {
	query, _ := view["query"].(string)
	legacy, ok := view["useLegacySql"].(bool)
	legacy = legacy || !ok // BigQuery's default
	refs := tableRefs.FindAllStringSubmatch(query, -1)
	if legacy {
		if len(refs) > 0 {
			return errInvalidQuery("Invalid table name: `%s` [Try using standard SQL (https://cloud.google.com/bigquery/docs/reference/standard-sql/enabling-standard-sql)].", refs[0][1])
		}
		return nil
	}
	var from *table
	for _, m := range refs {
		parts := strings.Split(m[1], ".")
		if len(parts) == 2 {
			parts = append([]string{project}, parts...)
		}
		t, err := s.tableLocked(parts[0], parts[1], parts[2])
		if err != nil {
			return errNotFound("Table %s:%s.%s was not found in location US", parts[0], parts[1], parts[2])
		}
		if len(refs) == 1 {
			from = t
		}
	}
	if from == nil || from.isView() {
		return nil // columns of a view or a join are not known here
	}
	cols := from.current().fields
	for _, w := range windows.FindAllStringSubmatch(query, -1) {
		for _, list := range w[1:] {
			for term := range strings.SplitSeq(list, ",") {
				name := strings.Trim(strings.TrimSpace(sortWords.ReplaceAllString(term, "")), "`")
				name, _, _ = strings.Cut(name, ".")
				if lookup(cols, name) == nil {
					return errInvalidQuery("Unrecognized name: %s", name)
				}
			}
		}
	}
	return nil
}
