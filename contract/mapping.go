package contract

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// Type is a BigQuery (GoogleSQL) column type.
type Type string

// Column types of the mapping.
const (
	Bool      Type = "BOOL"
	Int64     Type = "INT64"
	Numeric   Type = "NUMERIC"
	Float64   Type = "FLOAT64"
	String    Type = "STRING"
	Bytes     Type = "BYTES"
	Timestamp Type = "TIMESTAMP"
	Date      Type = "DATE"
	Interval  Type = "INTERVAL"
	JSON      Type = "JSON"
	Record    Type = "RECORD"
)

// Mode is a BigQuery column mode.
type Mode string

// Column modes.
const (
	Nullable Mode = "NULLABLE"
	Required Mode = "REQUIRED"
	Repeated Mode = "REPEATED"
)

// Column is one column of a table; RECORD columns have Fields.
type Column struct {
	Name        string
	Type        Type
	Mode        Mode
	Description string
	PolicyTag   string
	Fields      []Column
	// Field is the contract field the column holds; nil for metadata
	// columns and for the key/value columns of a map entry record.
	Field protoreflect.FieldDescriptor
	// Scalar is the proto kind a wrapper or map key/value column holds;
	// zero for other columns (read Field instead).
	Scalar protoreflect.Kind
}

// Table is the warehouse table of an event type.
type Table struct {
	// Name is the table name, e.g. shop_orders_v1_order_placed.
	Name string
	// Subject is the event message's full name.
	Subject     string
	Description string
	// Columns are the metadata columns followed by the payload columns.
	Columns []Column
	// PartitionColumn is the TIMESTAMP column for day partitioning.
	PartitionColumn string
	// Clustering lists clustering columns, at most four.
	Clustering []string
	// PartitionExpirationDays is zero for no expiration.
	PartitionExpirationDays int
	// EntityKey is the column of the entity key (the event option
	// entity_key_field), "" when the contract has none.
	EntityKey string
	// Rollup is true for a rollup's table: no metadata columns, one row
	// per bucket and dimensions, partitioned on the bucket column.
	Rollup bool
}

// Metadata column names. Contract fields may not start with "_" (EV-L06), so
// these never collide with payload columns.
const (
	ColEventID       = "_event_id"
	ColEventTime     = "_event_time"
	ColReceivedAt    = "_received_at"
	ColPublishedAt   = "_published_at"
	ColSchemaID      = "_schema_id"
	ColSchemaVersion = "_schema_version"
	ColProducer      = "_producer"
	ColAttributes    = "_attributes"
)

// MetadataColumns are the pipeline's columns, first in every table.
func MetadataColumns() []Column {
	return []Column{
		{Name: ColEventID, Type: String, Mode: Required, Description: "Event id; duplicates from at-least-once delivery share it."},
		{Name: ColEventTime, Type: Timestamp, Mode: Required, Description: "When the fact happened."},
		{Name: ColReceivedAt, Type: Timestamp, Mode: Nullable, Description: "When the collector accepted the event."},
		{Name: ColPublishedAt, Type: Timestamp, Mode: Nullable, Description: "When Pub/Sub stored the event."},
		{Name: ColSchemaID, Type: Int64, Mode: Nullable, Description: "Registry id of the schema version the event was written with."},
		{Name: ColSchemaVersion, Type: Int64, Mode: Nullable, Description: "Version of the subject the event was written with."},
		{Name: ColProducer, Type: String, Mode: Nullable, Description: "Producer that sent the event."},
		{Name: ColAttributes, Type: JSON, Mode: Nullable, Description: "The producer's own attributes."},
	}
}

// Limits BigQuery puts on a table schema (EV-L04).
const (
	MaxRecordDepth = 15
	MaxColumns     = 10000
	MaxNameLength  = 300
	MaxClustering  = 4
)

// MappingError is one reason a contract has no table mapping. Rule is the
// rule id it breaks (docs/EVOLUTION.md).
type MappingError struct {
	Rule    string
	Path    string
	Message string
}

func (e *MappingError) Error() string { return fmt.Sprintf("%s %s: %s", e.Rule, e.Path, e.Message) }

// MappingErrors lists every MappingError found; Map functions return it.
type MappingErrors []*MappingError

func (e MappingErrors) Error() string {
	msgs := make([]string, len(e))
	for i, m := range e {
		msgs[i] = m.Error()
	}
	return strings.Join(msgs, "; ")
}

// AsMappingErrors extracts the MappingErrors of err, if any.
func AsMappingErrors(err error) (MappingErrors, bool) {
	var me MappingErrors
	ok := errors.As(err, &me)
	return me, ok
}

// TableName is the table of an event type: the option's override, or
// <package_with_underscores>_<message_snake>.
func TableName(md protoreflect.MessageDescriptor) string {
	if opts, ok := EventOptions(md); ok && opts.GetTable() != "" {
		return opts.GetTable()
	}
	if opts, ok := RollupOptions(md); ok && opts.GetTable() != "" {
		return opts.GetTable()
	}
	pkg := strings.ReplaceAll(string(md.ParentFile().Package()), ".", "_")
	return pkg + "_" + SnakeCase(string(md.Name()))
}

// SnakeCase turns OrderPlaced into order_placed and HTTPRequest into
// http_request.
func SnakeCase(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(runes[i-1]) || unicode.IsDigit(runes[i-1]) ||
				(i+1 < len(runes) && unicode.IsLower(runes[i+1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MapTable maps an event message to its table. The error, when not nil, is
// MappingErrors naming every problem.
//
// A rollup message (option (hem.options.v1.rollup)) maps to its rollup
// table (ParseRollup), without metadata columns.
func MapTable(md protoreflect.MessageDescriptor) (*Table, error) {
	if IsRollup(md) {
		r, err := ParseRollup(md)
		if err != nil {
			return nil, err
		}
		return r.Table, nil
	}
	m := mapper{}
	payload := m.fields(md, string(md.FullName()), 0, map[protoreflect.FullName]bool{})
	t := &Table{
		Name:            TableName(md),
		Subject:         string(md.FullName()),
		Description:     comment(md),
		Columns:         append(MetadataColumns(), payload...),
		PartitionColumn: ColEventTime,
	}
	if n := countColumns(t.Columns); n > MaxColumns {
		m.fail("EV-L04", t.Subject, "the table would have %d columns (with nested ones); BigQuery allows %d", n, MaxColumns)
	}
	if opts, ok := EventOptions(md); ok {
		m.applyOptions(t, md, opts.GetPartitionField(), opts.GetClusteringFields(), int(opts.GetPartitionExpirationDays()), opts.GetEntityKeyField(), opts.GetDataSubjectField())
	} else if m.subjectScoped != "" {
		m.checkDataSubject(nil, t.Subject, "")
	}
	if len(m.errs) > 0 {
		return nil, m.errs
	}
	return t, nil
}

// MapFields maps the fields of a message to columns (no metadata columns).
func MapFields(md protoreflect.MessageDescriptor) ([]Column, error) {
	m := mapper{}
	cols := m.fields(md, string(md.FullName()), 0, map[protoreflect.FullName]bool{})
	if len(m.errs) > 0 {
		return nil, m.errs
	}
	return cols, nil
}

type mapper struct {
	errs MappingErrors
	// subjectScoped is the path of a field encrypted with
	// KEY_SCOPE_DATA_SUBJECT, "" when there is none.
	subjectScoped string
}

// Encrypted reports whether fd is encrypted by the collector
// (PII_HANDLING_ENCRYPT or PII_HANDLING_ENCRYPT_DETERMINISTIC).
func Encrypted(fd protoreflect.FieldDescriptor) bool {
	switch FieldOptions(fd).GetPii() {
	case optionsv1.PiiHandling_PII_HANDLING_ENCRYPT, optionsv1.PiiHandling_PII_HANDLING_ENCRYPT_DETERMINISTIC:
		return true
	}
	return false
}

// checkEncrypted refuses what the collector cannot encrypt: a ciphertext
// needs a string or bytes value (a StringValue or BytesValue wrapper, or
// the values of a repeated field or map), so anything else would have to
// be redacted, which the contract did not ask for. It also refuses a
// handling hem does not know, which would let the value through in clear.
func (m *mapper) checkEncrypted(fd protoreflect.FieldDescriptor, fo *optionsv1.FieldOptions, path string) {
	h := fo.GetPii()
	if h > optionsv1.PiiHandling_PII_HANDLING_ENCRYPT_DETERMINISTIC {
		m.fail("EV-L10", path, "pii handling %s is not supported by this version of hem", h)
		return
	}
	if !Encrypted(fd) {
		if fo.GetKeyScope() != optionsv1.KeyScope_KEY_SCOPE_UNSPECIFIED {
			m.fail("EV-L10", path, "key_scope applies to encrypted fields only (pii PII_HANDLING_ENCRYPT or PII_HANDLING_ENCRYPT_DETERMINISTIC)")
		}
		return
	}
	v := fd
	if fd.IsMap() {
		v = fd.MapValue()
	}
	kind := v.Kind()
	if md := v.Message(); md != nil {
		switch md.FullName() {
		case "google.protobuf.StringValue":
			kind = protoreflect.StringKind
		case "google.protobuf.BytesValue":
			kind = protoreflect.BytesKind
		}
	}
	if kind != protoreflect.StringKind && kind != protoreflect.BytesKind {
		m.fail("EV-L10", path, "pii %s needs a string or bytes field (or a StringValue or BytesValue, or a repeated field or map of them): the ciphertext is stored in it", h)
	}
	if fo.GetKeyScope() == optionsv1.KeyScope_KEY_SCOPE_DATA_SUBJECT && m.subjectScoped == "" {
		m.subjectScoped = path
	}
}

func (m *mapper) fail(rule, path, format string, args ...any) {
	m.errs = append(m.errs, &MappingError{Rule: rule, Path: path, Message: fmt.Sprintf(format, args...)})
}

var columnName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedPrefixes are column-name prefixes BigQuery refuses.
var reservedPrefixes = []string{"_table_", "_file_", "_partition", "_row_timestamp", "__root__", "_colidentifier"}

func (m *mapper) fields(md protoreflect.MessageDescriptor, path string, depth int, stack map[protoreflect.FullName]bool) []Column {
	if depth > MaxRecordDepth {
		m.fail("EV-L04", path, "records nest more than %d levels deep; BigQuery allows %d", MaxRecordDepth, MaxRecordDepth)
		return nil
	}
	stack[md.FullName()] = true
	defer delete(stack, md.FullName())
	fields := md.Fields()
	cols := make([]Column, 0, fields.Len())
	lower := map[string]string{}
	for i := range fields.Len() {
		fd := fields.Get(i)
		fpath := path + "." + string(fd.Name())
		m.checkName(fd, fpath)
		if prev, ok := lower[strings.ToLower(string(fd.Name()))]; ok {
			m.fail("EV-L07", fpath, "field %q differs from field %q only in case; BigQuery column names ignore case", fd.Name(), prev)
		}
		lower[strings.ToLower(string(fd.Name()))] = string(fd.Name())
		if col, ok := m.column(fd, fpath, depth, stack); ok {
			cols = append(cols, col)
		}
	}
	return cols
}

func (m *mapper) checkName(fd protoreflect.FieldDescriptor, path string) {
	name := string(fd.Name())
	switch {
	case !columnName.MatchString(name):
		m.fail("EV-L06", path, "%q is not a valid BigQuery column name (letters, digits, underscores; not starting with a digit)", name)
	case strings.HasPrefix(name, "_"):
		m.fail("EV-L06", path, "field names may not start with \"_\": that prefix is reserved for hem's metadata columns; rename the field")
	case len(name) > MaxNameLength:
		m.fail("EV-L06", path, "the name has %d characters; BigQuery allows %d", len(name), MaxNameLength)
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(strings.ToLower(name), p) {
			m.fail("EV-L06", path, "%q starts with %q, a prefix BigQuery reserves", name, p)
		}
	}
}

func (m *mapper) column(fd protoreflect.FieldDescriptor, path string, depth int, stack map[protoreflect.FullName]bool) (Column, bool) {
	col := Column{
		Name:        string(fd.Name()),
		Mode:        Nullable,
		Description: comment(fd),
		Field:       fd,
	}
	if fo := FieldOptions(fd); fo != nil {
		col.PolicyTag = fo.GetPolicyTag()
		m.checkEncrypted(fd, fo, path)
	}
	if fd.IsList() || fd.IsMap() {
		col.Mode = Repeated
	}
	if fd.IsExtension() {
		m.fail("EV-L05", path, "extensions have no column; declare a field instead")
		return col, false
	}
	if fd.IsMap() {
		key := m.scalar(fd.MapKey(), path+".key")
		key.Name, key.Mode, key.Scalar = "key", Nullable, fd.MapKey().Kind()
		value, ok := m.valueColumn(fd.MapValue(), path+".value", depth+1, stack)
		if !ok {
			return col, false
		}
		value.Name, value.Mode, value.Field = "value", Nullable, nil
		if value.Type != Record {
			value.Scalar = fd.MapValue().Kind()
		}
		col.Type, col.Fields = Record, []Column{key, value}
		return col, true
	}
	v, ok := m.valueColumn(fd, path, depth, stack)
	if !ok {
		return col, false
	}
	col.Type, col.Fields, col.Scalar = v.Type, v.Fields, v.Scalar
	return col, true
}

// valueColumn maps the type of fd (ignoring its cardinality).
func (m *mapper) valueColumn(fd protoreflect.FieldDescriptor, path string, depth int, stack map[protoreflect.FullName]bool) (Column, bool) {
	switch fd.Kind() {
	case protoreflect.GroupKind:
		m.fail("EV-L05", path, "groups (delimited encoding) have no BigQuery mapping; use a message field")
		return Column{}, false
	case protoreflect.MessageKind:
	default:
		return m.scalar(fd, path), true
	}
	sub := fd.Message()
	switch sub.FullName() {
	case "google.protobuf.Timestamp":
		return Column{Type: Timestamp}, true
	case "google.protobuf.Duration":
		return Column{Type: Interval}, true
	case "google.type.Date":
		return Column{Type: Date}, true
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
		return Column{Type: JSON}, true
	case "google.protobuf.Any", "google.protobuf.FieldMask", "google.protobuf.Empty":
		m.fail("EV-L05", path, "%s has no BigQuery mapping; use a concrete message", sub.FullName())
		return Column{}, false
	}
	if w, ok := wrapperKinds[sub.FullName()]; ok {
		return Column{Type: scalarType(w), Scalar: w}, true
	}
	if stack[sub.FullName()] {
		m.fail("EV-L03", path, "%s refers back to itself; BigQuery records cannot be recursive", sub.FullName())
		return Column{}, false
	}
	return Column{Type: Record, Fields: m.fields(sub, path, depth+1, stack)}, true
}

func (m *mapper) scalar(fd protoreflect.FieldDescriptor, path string) Column {
	t := scalarType(fd.Kind())
	if t == "" {
		m.fail("EV-L05", path, "type %s has no BigQuery mapping", fd.Kind())
	}
	return Column{Type: t}
}

var wrapperKinds = map[protoreflect.FullName]protoreflect.Kind{
	"google.protobuf.BoolValue":   protoreflect.BoolKind,
	"google.protobuf.BytesValue":  protoreflect.BytesKind,
	"google.protobuf.DoubleValue": protoreflect.DoubleKind,
	"google.protobuf.FloatValue":  protoreflect.FloatKind,
	"google.protobuf.Int32Value":  protoreflect.Int32Kind,
	"google.protobuf.Int64Value":  protoreflect.Int64Kind,
	"google.protobuf.UInt32Value": protoreflect.Uint32Kind,
	"google.protobuf.UInt64Value": protoreflect.Uint64Kind,
	"google.protobuf.StringValue": protoreflect.StringKind,
}

// IsWrapper reports whether md is a google.protobuf wrapper type.
func IsWrapper(md protoreflect.MessageDescriptor) bool {
	_, ok := wrapperKinds[md.FullName()]
	return ok
}

func scalarType(k protoreflect.Kind) Type {
	switch k {
	case protoreflect.BoolKind:
		return Bool
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return Int64
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return Numeric
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return Float64
	case protoreflect.StringKind, protoreflect.EnumKind:
		return String
	case protoreflect.BytesKind:
		return Bytes
	}
	return ""
}

// clusterable are the column types BigQuery can cluster by.
var clusterable = map[Type]bool{Bool: true, Int64: true, Numeric: true, String: true, Timestamp: true, Date: true}

func (m *mapper) applyOptions(t *Table, md protoreflect.MessageDescriptor, partition string, clustering []string, expiration int, entityKey, subject string) {
	path := string(md.FullName())
	top := map[string]Column{}
	for _, c := range t.Columns {
		top[c.Name] = c
	}
	if partition != "" {
		c, ok := top[partition]
		if !ok || c.Field == nil || c.Type != Timestamp || c.Mode != Nullable {
			m.fail("EV-L10", path, "partition_field %q must name a top-level, non-repeated google.protobuf.Timestamp field", partition)
		} else {
			t.PartitionColumn = partition
		}
	}
	if len(clustering) > MaxClustering {
		m.fail("EV-L10", path, "%d clustering fields; BigQuery allows %d", len(clustering), MaxClustering)
	}
	for _, name := range clustering {
		c, ok := top[name]
		if !ok || c.Mode == Repeated || !clusterable[c.Type] {
			m.fail("EV-L10", path, "clustering field %q must name a top-level, non-repeated field of a clusterable type (string, enum, integer, bool, timestamp)", name)
			continue
		}
		t.Clustering = append(t.Clustering, name)
	}
	if entityKey != "" {
		if c, ok := top[entityKey]; !ok || c.Field == nil || c.Mode == Repeated || c.Type == Record || c.Type == JSON {
			m.fail("EV-L10", path, "entity_key_field %q must name a top-level, non-repeated scalar field", entityKey)
		} else {
			t.EntityKey = entityKey
		}
	}
	// An encrypted column cannot partition, cluster or key anything: its
	// ciphertexts differ from the values (and, with a random nonce, from
	// each other).
	for _, use := range []struct{ what, name string }{{"partition_field", partition}, {"entity_key_field", entityKey}} {
		if c, ok := top[use.name]; ok && c.Field != nil && Encrypted(c.Field) {
			m.fail("EV-L10", path, "%s %q is encrypted; an encrypted field cannot be one", use.what, use.name)
		}
	}
	for _, name := range clustering {
		if c, ok := top[name]; ok && c.Field != nil && Encrypted(c.Field) {
			m.fail("EV-L10", path, "clustering field %q is encrypted; an encrypted field cannot cluster a table", name)
		}
	}
	m.checkDataSubject(top, path, subject)
	for _, p := range RetentionOf(md).Problems() {
		m.fail("EV-L10", path, "%s", p)
	}
	t.PartitionExpirationDays = expiration
}

// checkDataSubject checks the data_subject_field, subject, of an event
// whose top-level columns are top: it names the keys of the fields
// encrypted with KEY_SCOPE_DATA_SUBJECT, so it must exist when one does,
// hold one scalar value per event, and be in clear (it is how
// hem erase --subject-field finds the person's keys).
func (m *mapper) checkDataSubject(top map[string]Column, path, subject string) {
	if subject == "" {
		if m.subjectScoped != "" {
			m.fail("EV-L10", m.subjectScoped, "key_scope KEY_SCOPE_DATA_SUBJECT needs the event option data_subject_field (the top-level field naming the person, e.g. member_id)")
		}
		return
	}
	c, ok := top[subject]
	if !ok || c.Field == nil || c.Mode == Repeated || c.Field.Message() != nil || c.Field.Kind() == protoreflect.EnumKind ||
		(c.Type != String && c.Type != Int64 && c.Type != Numeric) {
		m.fail("EV-L10", path, "data_subject_field %q must name a top-level, non-repeated string or integer field", subject)
		return
	}
	if h := FieldOptions(c.Field).GetPii(); h != optionsv1.PiiHandling_PII_HANDLING_UNSPECIFIED {
		m.fail("EV-L10", path, "data_subject_field %q has pii %s; it names the person's keys, so it must be kept in clear", subject, h)
	}
}

func countColumns(cols []Column) int {
	n := len(cols)
	for _, c := range cols {
		n += countColumns(c.Fields)
	}
	return n
}

// comment is a descriptor's leading comment, tidied into a description.
func comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	lines := strings.Split(strings.TrimSpace(loc.LeadingComments), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	s := strings.Join(lines, " ")
	// BigQuery's limit for column descriptions, in characters; a cut by
	// bytes could split one and leave a description that is not UTF-8.
	const maxDescription = 1024
	if utf8.RuneCountInString(s) > maxDescription {
		s = string([]rune(s)[:maxDescription])
	}
	return s
}

// Lookup finds a column by name among cols.
func Lookup(cols []Column, name string) (Column, bool) {
	for _, c := range cols {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}
