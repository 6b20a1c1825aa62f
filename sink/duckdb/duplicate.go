package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hemlabs/hem/contract"
)

// An event id the warehouse sees twice is a redelivery when the payloads
// match (written once, no error) and a different event when they do not:
// the first stays, the later one fails with sink.DuplicateID so the
// processor records it instead of dropping it. Within a batch the payloads
// are compared by sink.FirstOfEachID; against a
// stored row, column by column, on the staged path only, which a batch
// takes only when one of its ids is already stored.

// differing returns the ids of staged rows whose payload columns differ
// from the row stored under the same id. JSON columns compare as parsed
// JSON, so spacing does not count.
func differing(ctx context.Context, tx *sql.Tx, t *contract.Table, cols []string, table, stage string) ([]string, error) {
	meta := map[string]bool{}
	for _, c := range contract.MetadataColumns() {
		meta[c.Name] = true
	}
	json := map[string]bool{}
	for _, c := range t.Columns {
		if c.Type == contract.JSON && c.Mode != contract.Repeated {
			json[strings.ToLower(c.Name)] = true
		}
	}
	var staged, stored []string
	for _, c := range cols {
		if meta[c] {
			continue
		}
		s, t := "s."+ident(c), "t."+ident(c)
		if json[strings.ToLower(c)] {
			s, t = "json("+s+")", "json("+t+")"
		}
		staged, stored = append(staged, s), append(stored, t)
	}
	if len(staged) == 0 {
		return nil, nil
	}
	q := fmt.Sprintf("SELECT s.%[1]s FROM %[2]s s JOIN %[3]s t ON t.%[1]s = s.%[1]s WHERE row(%[4]s) IS DISTINCT FROM row(%[5]s)",
		ident(contract.ColEventID), ident(stage), ident(table), strings.Join(staged, ", "), strings.Join(stored, ", "))
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("duckdb: compare with stored rows of %s: %w", table, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("duckdb: compare with stored rows of %s: %w", table, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
