package contract

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// Rule ids of rollup contracts (docs/EVOLUTION.md).
const (
	// RuleRollupSpec is broken by a rollup message that does not say what
	// to compute: its options or its fields' roles.
	RuleRollupSpec = "EV-R01"
	// RuleRollupSource is broken by a rollup that does not fit its source
	// event type's table.
	RuleRollupSource = "EV-R02"
)

// Rollup is a rollup contract: a table of aggregates computed from one row
// per event id of the source event type, grouped by a time bucket and
// dimensions. It is built by ParseRollup from the rollup message alone and
// checked against its source's table by Bind.
type Rollup struct {
	// Subject is the rollup message's full name.
	Subject string
	// Source is the full name of the source event type.
	Source string
	// Grain is the size of a bucket: GRAIN_HOUR or GRAIN_DAY.
	Grain optionsv1.Grain
	// TimeColumn is the source's TIMESTAMP column the rows are bucketed by
	// (dotted for nested fields); default _event_time.
	TimeColumn string
	// Bucket is the rollup column holding the bucket's start.
	Bucket string
	// Dimensions and Measures in field order.
	Dimensions []RollupDimension
	Measures   []RollupMeasure
	// AllowedLateness is how long after a bucket ends events may still
	// arrive for it.
	AllowedLateness time.Duration
	// RetentionDays is the rollup table's partition expiration; zero keeps
	// rows forever.
	RetentionDays int
	// Table is the rollup table: the mapped fields, day-partitioned on the
	// bucket column, no metadata columns.
	Table *Table
}

// RollupDimension is a rollup column grouping by a source column.
type RollupDimension struct {
	// Column is the rollup column.
	Column string
	// Source is the source column (dotted for nested fields).
	Source string
	// Type is the column type, the same in both tables.
	Type Type
}

// RollupMeasure is a rollup column aggregating source rows.
type RollupMeasure struct {
	// Column is the rollup column.
	Column string
	// Aggregate is the function; AGGREGATE_UNSPECIFIED when SQL is set.
	Aggregate optionsv1.Aggregate
	// Of is the aggregated source column (dotted); empty for COUNT and SQL.
	Of string
	// SQL is the escape hatch: an aggregate expression both engines accept.
	SQL string
	// Type is the rollup column's type.
	Type Type
}

// BucketSize returns the size of one bucket.
func (r *Rollup) BucketSize() time.Duration {
	if r.Grain == optionsv1.Grain_GRAIN_HOUR {
		return time.Hour
	}
	return 24 * time.Hour
}

// RollupOptions returns the (hem.options.v1.rollup) option of md, and whether
// md carries it (that is, whether md is a rollup).
func RollupOptions(md protoreflect.MessageDescriptor) (*optionsv1.RollupOptions, bool) {
	v, found, typed := typedExtension[*optionsv1.RollupOptions](md.Options(), optionsv1.E_Rollup.TypeDescriptor().Number())
	if typed {
		return v, found
	}
	var opts descriptorpb.MessageOptions
	if !typedOptions(md.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Rollup) {
		return nil, false
	}
	ro, ok := proto.GetExtension(&opts, optionsv1.E_Rollup).(*optionsv1.RollupOptions)
	return ro, ok
}

// IsRollup reports whether md carries the rollup option.
func IsRollup(md protoreflect.MessageDescriptor) bool {
	_, ok := RollupOptions(md)
	return ok
}

// ParseRollup reads the rollup message md: its options and the role of
// every field. It checks everything that does not need the source's table
// (rule EV-R01, and the mapping rules every contract obeys); the error,
// when not nil, is MappingErrors naming each problem.
func ParseRollup(md protoreflect.MessageDescriptor) (*Rollup, error) {
	opts, ok := RollupOptions(md)
	if !ok {
		return nil, MappingErrors{{Rule: RuleRollupSpec, Path: string(md.FullName()), Message: "the message has no option (hem.options.v1.rollup)"}}
	}
	m := mapper{}
	path := string(md.FullName())
	cols := m.fields(md, path, 0, map[protoreflect.FullName]bool{})
	r := &Rollup{
		Subject:         path,
		Source:          opts.GetSource(),
		Grain:           opts.GetGrain(),
		TimeColumn:      opts.GetTimeColumn(),
		AllowedLateness: time.Duration(opts.GetAllowedLatenessHours()) * time.Hour,
		RetentionDays:   int(opts.GetRetentionDays()),
	}
	if r.TimeColumn == "" {
		r.TimeColumn = ColEventTime
	}
	fail := func(p, format string, args ...any) { m.fail(RuleRollupSpec, p, format, args...) }
	if r.Source == "" {
		fail(path, "the rollup names no source: set source to the full name of an event type, e.g. shop.orders.v1.OrderPlaced")
	}
	if r.Grain != optionsv1.Grain_GRAIN_HOUR && r.Grain != optionsv1.Grain_GRAIN_DAY {
		fail(path, "grain must be GRAIN_HOUR or GRAIN_DAY")
	}
	if opts.GetAllowedLatenessHours() < 0 {
		fail(path, "allowed_lateness_hours must not be negative")
	}
	if opts.GetRetentionDays() < 0 {
		fail(path, "retention_days must not be negative")
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		fpath := path + "." + string(fd.Name())
		col, ok := Lookup(cols, string(fd.Name()))
		if !ok {
			continue // the mapping reported it
		}
		if fd.IsList() || fd.IsMap() {
			fail(fpath, "a rollup column holds one value: make the field singular")
			continue
		}
		var rc *optionsv1.RollupColumn
		if fo := FieldOptions(fd); fo != nil {
			rc = fo.GetRollup()
		}
		roles := 0
		if rc.GetBucket() {
			roles++
		}
		if rc.GetDimension() != "" {
			roles++
		}
		if rc.GetAggregate() != optionsv1.Aggregate_AGGREGATE_UNSPECIFIED || rc.GetSql() != "" || rc.GetOf() != "" {
			roles++
		}
		switch {
		case roles == 0:
			fail(fpath, "every field of a rollup is the bucket, a dimension or a measure: set (hem.options.v1.field).rollup")
			continue
		case roles > 1:
			fail(fpath, "the field has more than one role (bucket, dimension, measure): give it one")
			continue
		}
		switch {
		case rc.GetBucket():
			if col.Type != Timestamp {
				fail(fpath, "the bucket must be a google.protobuf.Timestamp field")
				continue
			}
			if r.Bucket != "" {
				fail(fpath, "a rollup has one bucket; %s is one already", r.Bucket)
				continue
			}
			r.Bucket = col.Name
		case rc.GetDimension() != "":
			if col.Type == Record || col.Type == JSON {
				fail(fpath, "a dimension must be a scalar field (a string, an enum, a number, a bool, a timestamp or a date)")
				continue
			}
			r.Dimensions = append(r.Dimensions, RollupDimension{Column: col.Name, Source: rc.GetDimension(), Type: col.Type})
		default:
			ms := RollupMeasure{Column: col.Name, Aggregate: rc.GetAggregate(), Of: rc.GetOf(), SQL: strings.TrimSpace(rc.GetSql()), Type: col.Type}
			if msg := measureProblem(ms, rc.GetSql()); msg != "" {
				fail(fpath, "%s", msg)
				continue
			}
			r.Measures = append(r.Measures, ms)
		}
	}
	if r.Bucket == "" {
		fail(path, "the rollup has no bucket: mark one google.protobuf.Timestamp field with rollup: {bucket: true}")
	}
	if len(r.Measures) == 0 {
		fail(path, "the rollup has no measure: add a field with rollup: {aggregate: AGGREGATE_COUNT}, say")
	}
	t := &Table{
		Name:                    TableName(md),
		Subject:                 path,
		Description:             comment(md),
		Columns:                 cols,
		PartitionColumn:         r.Bucket,
		PartitionExpirationDays: r.RetentionDays,
		Rollup:                  true,
	}
	for _, d := range r.Dimensions {
		if len(t.Clustering) < MaxClustering && clusterable[d.Type] {
			t.Clustering = append(t.Clustering, d.Column)
		}
	}
	r.Table = t
	if len(m.errs) > 0 {
		return nil, m.errs
	}
	return r, nil
}

// measureProblem says what is wrong with a measure's declaration alone, or
// "" when nothing is.
func measureProblem(ms RollupMeasure, rawSQL string) string {
	if rawSQL != "" || ms.SQL != "" {
		switch {
		case ms.SQL == "":
			return "the sql escape hatch is empty: write an aggregate expression, e.g. AVG(total.amount_micros)"
		case ms.Aggregate != optionsv1.Aggregate_AGGREGATE_UNSPECIFIED || ms.Of != "":
			return "a measure is either sql or aggregate+of, not both"
		case strings.Contains(ms.SQL, ";"):
			return "the sql escape hatch is one expression: no ';'"
		}
		return ""
	}
	switch ms.Aggregate {
	case optionsv1.Aggregate_AGGREGATE_UNSPECIFIED:
		return "the measure names `of` but no aggregate: set aggregate"
	case optionsv1.Aggregate_AGGREGATE_COUNT:
		if ms.Of != "" {
			return "AGGREGATE_COUNT counts events (one per event id): leave `of` empty"
		}
		if ms.Type != Int64 {
			return "a count needs an integer field (int64)"
		}
	case optionsv1.Aggregate_AGGREGATE_APPROX_COUNT_DISTINCT:
		if ms.Of == "" {
			return "AGGREGATE_APPROX_COUNT_DISTINCT needs `of`: the source column whose distinct values it counts"
		}
		if ms.Type != Int64 {
			return "a distinct count needs an integer field (int64)"
		}
	case optionsv1.Aggregate_AGGREGATE_SUM, optionsv1.Aggregate_AGGREGATE_MIN, optionsv1.Aggregate_AGGREGATE_MAX:
		if ms.Of == "" {
			return fmt.Sprintf("%s needs `of`: the source column it aggregates", ms.Aggregate)
		}
	default:
		return fmt.Sprintf("unknown aggregate %d", ms.Aggregate)
	}
	return ""
}

// numeric are the column types SUM takes.
var numeric = map[Type]bool{Int64: true, Float64: true, Numeric: true}

// ordered are the column types MIN and MAX take.
var ordered = map[Type]bool{Int64: true, Float64: true, Numeric: true, Timestamp: true, Date: true, String: true}

// Bind checks r against the table of its source event type (rule EV-R02):
// the time column is a TIMESTAMP, every dimension and aggregated column
// exists outside any repeated field and has a type its rollup column can
// hold. The error, when not nil, is MappingErrors naming each problem.
func (r *Rollup) Bind(source *Table) error {
	m := mapper{}
	fail := func(col, format string, args ...any) {
		m.fail(RuleRollupSource, r.Subject+"."+col, format, args...)
	}
	if source == nil || source.Rollup {
		m.fail(RuleRollupSource, r.Subject, "source %s is not a registered event type: push the event type first (or with the rollup)", r.Source)
		return m.errs
	}
	if c, msg := sourceColumn(source.Columns, r.TimeColumn); msg != "" {
		m.fail(RuleRollupSource, r.Subject, "time_column %q: %s", r.TimeColumn, msg)
	} else if c.Type != Timestamp {
		m.fail(RuleRollupSource, r.Subject, "time_column %q is %s in %s; it must be a TIMESTAMP column (a google.protobuf.Timestamp field)", r.TimeColumn, c.Type, source.Name)
	}
	for _, d := range r.Dimensions {
		c, msg := sourceColumn(source.Columns, d.Source)
		switch {
		case msg != "":
			fail(d.Column, "dimension %q: %s", d.Source, msg)
		case c.Type == Record || c.Type == JSON:
			fail(d.Column, "dimension %q is a %s column; group by a scalar column", d.Source, c.Type)
		case c.Type != d.Type:
			fail(d.Column, "dimension %q is %s in %s, the rollup column is %s: give the field the source's type", d.Source, c.Type, source.Name, d.Type)
		}
	}
	for _, ms := range r.Measures {
		if ms.SQL != "" || ms.Aggregate == optionsv1.Aggregate_AGGREGATE_COUNT {
			continue
		}
		c, msg := sourceColumn(source.Columns, ms.Of)
		if msg != "" {
			fail(ms.Column, "%s of %q: %s", ms.Aggregate, ms.Of, msg)
			continue
		}
		switch ms.Aggregate {
		case optionsv1.Aggregate_AGGREGATE_SUM:
			if !numeric[c.Type] {
				fail(ms.Column, "AGGREGATE_SUM of %q, a %s column: sum needs a numeric column (INT64, FLOAT64, NUMERIC)", ms.Of, c.Type)
			} else if c.Type != ms.Type {
				fail(ms.Column, "the sum of %s column %q is %s: give the field that type", c.Type, ms.Of, c.Type)
			}
		case optionsv1.Aggregate_AGGREGATE_MIN, optionsv1.Aggregate_AGGREGATE_MAX:
			if !ordered[c.Type] {
				fail(ms.Column, "%s of %q, a %s column: min and max need a number, a string, a timestamp or a date", ms.Aggregate, ms.Of, c.Type)
			} else if c.Type != ms.Type {
				fail(ms.Column, "%s of %s column %q is %s: give the field that type", ms.Aggregate, c.Type, ms.Of, c.Type)
			}
		case optionsv1.Aggregate_AGGREGATE_APPROX_COUNT_DISTINCT:
			if c.Type == Record || c.Type == JSON || c.Type == Float64 {
				fail(ms.Column, "AGGREGATE_APPROX_COUNT_DISTINCT of %q, a %s column: count distinct values of a string, integer, bool, timestamp, date or bytes column", ms.Of, c.Type)
			}
		}
	}
	if len(m.errs) > 0 {
		return m.errs
	}
	return nil
}

// sourceColumn finds a dotted column among cols, or says why it cannot be
// read: it is missing, or reached through a repeated field.
func sourceColumn(cols []Column, dotted string) (Column, string) {
	parts := strings.Split(dotted, ".")
	var c Column
	for i, p := range parts {
		var ok bool
		c, ok = Lookup(cols, p)
		if !ok {
			return Column{}, fmt.Sprintf("%q is not a column of the source table", strings.Join(parts[:i+1], "."))
		}
		if c.Mode == Repeated {
			return Column{}, fmt.Sprintf("%q is repeated: a rollup reads one value per event", strings.Join(parts[:i+1], "."))
		}
		if i < len(parts)-1 {
			if c.Type != Record {
				return Column{}, fmt.Sprintf("%q is not a record, so it has no field %q", strings.Join(parts[:i+1], "."), parts[i+1])
			}
			cols = c.Fields
		}
	}
	return c, ""
}
