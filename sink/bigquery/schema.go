package bigquery

import (
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/contract"
)

// TableSchema is the BigQuery schema of a mapped table, as the sink
// creates it.
func TableSchema(t *contract.Table) bigquery.Schema { return tableSchema(t.Columns) }

// tableSchema converts mapped columns to a BigQuery schema.
func tableSchema(cols []contract.Column) bigquery.Schema {
	out := make(bigquery.Schema, 0, len(cols))
	for _, c := range cols {
		f := &bigquery.FieldSchema{
			Name:        c.Name,
			Type:        fieldType(c.Type),
			Description: c.Description,
			Required:    c.Mode == contract.Required,
			Repeated:    c.Mode == contract.Repeated,
		}
		// A policy tag is attached only when it is a taxonomy resource
		// name; a bare label is documentation until someone maps it.
		if strings.HasPrefix(c.PolicyTag, "projects/") {
			f.PolicyTags = &bigquery.PolicyTagList{Names: []string{c.PolicyTag}}
		}
		if c.Type == contract.Record {
			f.Schema = tableSchema(c.Fields)
		}
		out = append(out, f)
	}
	return out
}

func fieldType(t contract.Type) bigquery.FieldType {
	switch t {
	case contract.Bool:
		return bigquery.BooleanFieldType
	case contract.Int64:
		return bigquery.IntegerFieldType
	case contract.Float64:
		return bigquery.FloatFieldType
	case contract.Record:
		return bigquery.RecordFieldType
	}
	// STRING, BYTES, NUMERIC, TIMESTAMP, DATE, INTERVAL and JSON have one name.
	return bigquery.FieldType(t)
}

// sameType compares column types, treating legacy and GoogleSQL names alike.
func sameType(a, b bigquery.FieldType) bool {
	canon := func(t bigquery.FieldType) string {
		switch strings.ToUpper(string(t)) {
		case "INT64", "INTEGER":
			return "INT64"
		case "FLOAT64", "FLOAT":
			return "FLOAT64"
		case "BOOL", "BOOLEAN":
			return "BOOL"
		case "RECORD", "STRUCT":
			return "RECORD"
		}
		return strings.ToUpper(string(t))
	}
	return canon(a) == canon(b)
}

// merge returns live with the columns of want it lacks appended, at the end
// of the table and inside RECORDs (docs/EVOLUTION.md, "How a table grows"), and whether it
// added any. Columns of live that want lacks (a newer version's) stay. A
// column whose type or mode differs is an error: the registry's rules
// (EV-B01, EV-B03) make that impossible, so it means a bug or a table
// someone changed by hand.
func merge(live, want bigquery.Schema, path string) (bigquery.Schema, bool, error) {
	out := make(bigquery.Schema, len(live))
	copy(out, live)
	added := false
	for _, w := range want {
		i := indexOf(out, w.Name)
		if i < 0 {
			add := *w
			add.Required = false // BigQuery refuses new REQUIRED columns
			out = append(out, &add)
			added = true
			continue
		}
		l := out[i]
		name := path + l.Name
		if !sameType(l.Type, w.Type) {
			return nil, false, fmt.Errorf("column %s is %s in the table but the contract maps it to %s", name, l.Type, w.Type)
		}
		if l.Repeated != w.Repeated {
			return nil, false, fmt.Errorf("column %s: the table says repeated=%v, the contract says repeated=%v", name, l.Repeated, w.Repeated)
		}
		if w.Type == bigquery.RecordFieldType {
			sub, subAdded, err := merge(l.Schema, w.Schema, name+".")
			if err != nil {
				return nil, false, err
			}
			if subAdded {
				c := *l
				c.Schema = sub
				out[i] = &c
				added = true
			}
		}
	}
	return out, added, nil
}

func indexOf(s bigquery.Schema, name string) int {
	for i, f := range s {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}
