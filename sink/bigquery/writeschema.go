package bigquery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"

	"github.com/hemlabs/hem/contract"
)

// errColumnsNotVisible is why a version's rows wait: the Storage Write
// API's view of the table lacks some of their columns.
var errColumnsNotVisible = errors.New("the Storage Write API does not see these columns yet")

// confirmColumns checks, before rows are written with a row schema, that
// the Write API's schema of the table (GetWriteStream with the FULL view)
// has every one of its columns. BigQuery refuses rows with unknown fields,
// but a compatible server may accept them and drop the values: hem does not
// rely on the refusal. A server without the FULL view is asked tables.get.
func (s *Sink) confirmColumns(ctx context.Context, ts *tableState, rs *RowSchema) error {
	ws, err := s.mw.GetWriteStream(ctx, &storagepb.GetWriteStreamRequest{Name: s.defaultStream(ts), View: storagepb.WriteStreamView_FULL})
	if err != nil {
		return fmt.Errorf("bigquery: read the write schema of %s: %w", ts.name, err)
	}
	var have colTree
	if tsch := ws.GetTableSchema(); tsch != nil {
		have = storageTree(tsch.GetFields())
	} else {
		meta, err := s.Dataset().Table(ts.name).Metadata(ctx)
		if err != nil {
			return fmt.Errorf("bigquery: read table %s: %w", ts.name, err)
		}
		have = tableTree(meta.Schema)
	}
	if missing := have.missing(rs.table.Columns, ""); len(missing) > 0 {
		return fmt.Errorf("bigquery: %s: %w: %s", ts.name, errColumnsNotVisible, strings.Join(missing, ", "))
	}
	return nil
}

// colTree is a table schema by lowercased column name (BigQuery compares
// names case-insensitively), with the subfields of RECORDs.
type colTree map[string]colTree

func storageTree(fields []*storagepb.TableFieldSchema) colTree {
	t := colTree{}
	for _, f := range fields {
		t[strings.ToLower(f.GetName())] = storageTree(f.GetFields())
	}
	return t
}

func tableTree(fields bigquery.Schema) colTree {
	t := colTree{}
	for _, f := range fields {
		t[strings.ToLower(f.Name)] = tableTree(f.Schema)
	}
	return t
}

// missing lists the columns of cols (with their paths) t lacks.
func (t colTree) missing(cols []contract.Column, path string) []string {
	var out []string
	for _, c := range cols {
		sub, ok := t[strings.ToLower(c.Name)]
		switch {
		case !ok:
			out = append(out, path+c.Name)
		case c.Type == contract.Record:
			out = append(out, sub.missing(c.Fields, path+c.Name+".")...)
		}
	}
	return out
}
