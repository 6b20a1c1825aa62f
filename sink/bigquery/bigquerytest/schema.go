package bigquerytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
)

// object is a JSON object as decoded from a request body. Resources are kept
// in this form so that fields the fake does not interpret still round-trip,
// and so that patches can be applied as JSON merge patches.
type object = map[string]any

// Column types, by the legacy names tables.get returns.
const (
	typeString     = "STRING"
	typeBytes      = "BYTES"
	typeInteger    = "INTEGER"
	typeFloat      = "FLOAT"
	typeBoolean    = "BOOLEAN"
	typeTimestamp  = "TIMESTAMP"
	typeDate       = "DATE"
	typeTime       = "TIME"
	typeDatetime   = "DATETIME"
	typeGeography  = "GEOGRAPHY"
	typeNumeric    = "NUMERIC"
	typeBignumeric = "BIGNUMERIC"
	typeJSON       = "JSON"
	typeRecord     = "RECORD"
	typeInterval   = "INTERVAL"

	modeNullable = "NULLABLE"
	modeRequired = "REQUIRED"
	modeRepeated = "REPEATED"
)

// canonicalType maps every spelling BigQuery accepts to the name it reports.
var canonicalType = map[string]string{
	"STRING": typeString, "BYTES": typeBytes,
	"INTEGER": typeInteger, "INT64": typeInteger,
	"FLOAT": typeFloat, "FLOAT64": typeFloat,
	"BOOLEAN": typeBoolean, "BOOL": typeBoolean,
	"TIMESTAMP": typeTimestamp, "DATE": typeDate, "TIME": typeTime, "DATETIME": typeDatetime,
	"GEOGRAPHY": typeGeography,
	"NUMERIC":   typeNumeric, "DECIMAL": typeNumeric,
	"BIGNUMERIC": typeBignumeric, "BIGDECIMAL": typeBignumeric,
	"JSON":   typeJSON,
	"RECORD": typeRecord, "STRUCT": typeRecord,
	"INTERVAL": typeInterval,
}

// storageType is the Storage Write API's name for each column type.
var storageType = map[string]storagepb.TableFieldSchema_Type{
	typeString: storagepb.TableFieldSchema_STRING, typeBytes: storagepb.TableFieldSchema_BYTES,
	typeInteger: storagepb.TableFieldSchema_INT64, typeFloat: storagepb.TableFieldSchema_DOUBLE,
	typeBoolean: storagepb.TableFieldSchema_BOOL, typeTimestamp: storagepb.TableFieldSchema_TIMESTAMP,
	typeDate: storagepb.TableFieldSchema_DATE, typeTime: storagepb.TableFieldSchema_TIME,
	typeDatetime: storagepb.TableFieldSchema_DATETIME, typeGeography: storagepb.TableFieldSchema_GEOGRAPHY,
	typeNumeric: storagepb.TableFieldSchema_NUMERIC, typeBignumeric: storagepb.TableFieldSchema_BIGNUMERIC,
	typeJSON: storagepb.TableFieldSchema_JSON, typeRecord: storagepb.TableFieldSchema_STRUCT,
	typeInterval: storagepb.TableFieldSchema_INTERVAL,
}

var storageMode = map[string]storagepb.TableFieldSchema_Mode{
	modeNullable: storagepb.TableFieldSchema_NULLABLE,
	modeRequired: storagepb.TableFieldSchema_REQUIRED,
	modeRepeated: storagepb.TableFieldSchema_REPEATED,
}

// clusterable lists the column types BigQuery allows as clustering columns.
var clusterable = map[string]bool{
	typeString: true, typeInteger: true, typeBoolean: true, typeTimestamp: true,
	typeDate: true, typeDatetime: true, typeGeography: true, typeNumeric: true, typeBignumeric: true,
}

const maxNesting = 15

// columnName is BigQuery's classic column-name rule. Flexible column names
// (dashes, spaces, Unicode) are not supported by the fake: they need proto
// column-name annotations on the Storage Write API side.
var columnName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,299}$`)

var reservedPrefixes = []string{"_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLIDENTIFIER"}

// field is one column of a table schema, normalized.
type field struct {
	Name   string
	Type   string
	Mode   string
	Fields []*field
}

func (f *field) repeated() bool { return f.Mode == modeRepeated }

// lookup finds a column by name as BigQuery does: case-insensitively.
func lookup(fields []*field, name string) *field {
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// parseSchema validates the "schema" member of a table resource and
// normalizes it in place (canonical type names, explicit modes), the way
// tables.get reports a schema back.
func parseSchema(v any) ([]*field, *apiError) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(object)
	if !ok {
		return nil, errInvalid("Invalid value for schema: not an object")
	}
	return parseFields(s["fields"], "", 1)
}

func parseFields(v any, prefix string, depth int) ([]*field, *apiError) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errInvalid("Invalid value for schema fields at %q: not a list", prefix)
	}
	if depth > maxNesting {
		return nil, errInvalid("Field %s: nesting exceeds %d levels", strings.TrimSuffix(prefix, "."), maxNesting)
	}
	var out []*field
	seen := map[string]bool{}
	for _, item := range list {
		o, ok := item.(object)
		if !ok {
			return nil, errInvalid("Invalid schema field under %q: not an object", prefix)
		}
		f, err := parseField(o, prefix, depth)
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(f.Name)
		if seen[key] {
			return nil, errInvalid("Field %s%s already exists in schema", prefix, f.Name)
		}
		seen[key] = true
		out = append(out, f)
	}
	return out, nil
}

func parseField(o object, prefix string, depth int) (*field, *apiError) {
	name, _ := o["name"].(string)
	path := prefix + name
	if !columnName.MatchString(name) {
		return nil, errInvalid("Invalid field name %q. Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.", path)
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(strings.ToUpper(name), p) {
			return nil, errInvalid("Invalid field name %q. Field names cannot start with %s", path, p)
		}
	}
	rawType, _ := o["type"].(string)
	typ, ok := canonicalType[strings.ToUpper(rawType)]
	if !ok {
		return nil, errInvalid("Invalid value for type: %s is not a valid value (field %s)", rawType, path)
	}
	rawMode, _ := o["mode"].(string)
	mode := strings.ToUpper(rawMode)
	switch mode {
	case "":
		mode = modeNullable
	case modeNullable, modeRequired, modeRepeated:
	default:
		return nil, errInvalid("Invalid value for mode: %s is not a valid value (field %s)", rawMode, path)
	}
	o["type"], o["mode"] = typ, mode
	f := &field{Name: name, Type: typ, Mode: mode}
	sub, err := parseFields(o["fields"], path+".", depth+1)
	if err != nil {
		return nil, err
	}
	switch {
	case typ == typeRecord && len(sub) == 0:
		return nil, errInvalid("Field %s is type RECORD but has no schema", path)
	case typ != typeRecord && len(sub) > 0:
		return nil, errInvalid("Field %s is type %s but has subfields", path, typ)
	}
	f.Fields = sub
	return f, nil
}

// checkEvolution enforces BigQuery's rules for changing the schema of an
// existing table: columns may be added (NULLABLE or REPEATED, at any
// nesting level) and REQUIRED may be relaxed to NULLABLE; nothing else.
func checkEvolution(table string, old, cur []*field) *apiError {
	if len(old) == 0 {
		// A table created without a schema takes its first one freely.
		return nil
	}
	return checkEvolutionAt(table, "", old, cur)
}

func checkEvolutionAt(table, prefix string, old, cur []*field) *apiError {
	for _, o := range old {
		n := lookup(cur, o.Name)
		path := prefix + o.Name
		if n == nil {
			return errInvalid("Provided Schema does not match Table %s. Field %s is missing in new schema", table, path)
		}
		if n.Type != o.Type {
			return errInvalid("Provided Schema does not match Table %s. Field %s has changed type from %s to %s", table, path, o.Type, n.Type)
		}
		if n.Mode != o.Mode && (o.Mode != modeRequired || n.Mode != modeNullable) {
			return errInvalid("Provided Schema does not match Table %s. Field %s has changed mode from %s to %s", table, path, o.Mode, n.Mode)
		}
		if o.Type == typeRecord {
			if err := checkEvolutionAt(table, path+".", o.Fields, n.Fields); err != nil {
				return err
			}
		}
	}
	for _, n := range cur {
		if lookup(old, n.Name) == nil && n.Mode == modeRequired {
			return errInvalid("Provided Schema does not match Table %s. Cannot add required fields to an existing schema. (field: %s%s)", table, prefix, n.Name)
		}
	}
	return nil
}

// checkLayout validates partitioning and clustering against the schema.
func checkLayout(doc object, fields []*field) *apiError {
	if tp, ok := doc["timePartitioning"].(object); ok {
		typ, _ := tp["type"].(string)
		switch typ {
		case "DAY", "HOUR", "MONTH", "YEAR":
		default:
			return errInvalid("Invalid value for timePartitioning.type: %q is not a valid value", typ)
		}
		if exp, ok := tp["expirationMs"]; ok && exp != nil {
			if n, err := toInt64(exp); err != nil || n < 0 {
				return errInvalid("Invalid value for timePartitioning.expirationMs: %v", exp)
			}
		}
		if name, _ := tp["field"].(string); name != "" {
			f := lookup(fields, name)
			if f == nil {
				return errInvalid("The field specified for partitioning cannot be found in the schema: %s", name)
			}
			switch {
			case f.repeated():
				return errInvalid("The field specified for partitioning cannot be REPEATED: %s", name)
			case f.Type != typeTimestamp && f.Type != typeDate && f.Type != typeDatetime:
				return errInvalid("The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: %s (field %s)", f.Type, name)
			case f.Type == typeDate && typ == "HOUR":
				return errInvalid("HOUR partitioning is not supported on DATE field %s", name)
			}
		}
	}
	if c, ok := doc["clustering"].(object); ok {
		list, _ := c["fields"].([]any)
		if len(list) == 0 {
			return errInvalid("Clustering fields cannot be empty")
		}
		if len(list) > 4 {
			return errInvalid("Too many clustering fields: %d, only up to 4 are allowed", len(list))
		}
		for _, v := range list {
			name, _ := v.(string)
			f := lookup(fields, name)
			switch {
			case f == nil:
				return errInvalid("The field specified for clustering cannot be found in the schema. Invalid field: %s", name)
			case f.repeated():
				return errInvalid("Field %s is of type ARRAY which is not supported for clustering", name)
			case !clusterable[f.Type]:
				return errInvalid("Field %s is of type %s which is not supported for clustering", name, f.Type)
			}
		}
	}
	return nil
}

func toInt64(v any) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Int64()
	case string:
		return json.Number(n).Int64()
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

// storageSchema is the schema as the Storage Write API reports it.
func storageSchema(fields []*field) *storagepb.TableSchema {
	return &storagepb.TableSchema{Fields: storageFields(fields)}
}

func storageFields(fields []*field) []*storagepb.TableFieldSchema {
	out := make([]*storagepb.TableFieldSchema, 0, len(fields))
	for _, f := range fields {
		out = append(out, &storagepb.TableFieldSchema{
			Name:   f.Name,
			Type:   storageType[f.Type],
			Mode:   storageMode[f.Mode],
			Fields: storageFields(f.Fields),
		})
	}
	return out
}
