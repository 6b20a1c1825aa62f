package bigquerytest

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// writerSchema is a connection's writer schema, built once, with its
// validation against each table schema version it met.
type writerSchema struct {
	md       protoreflect.MessageDescriptor
	lenient  bool // drop what does not fit instead of refusing it
	buildErr error
	plans    map[uint64]planResult // by schema version id
}

type planResult struct {
	plan *recordPlan
	err  error
}

// newWriterSchema builds the descriptor the way BigQuery reads it: a
// self-contained DescriptorProto (the shape adapt.NormalizeDescriptor
// makes) in a proto2 file with no imports. References to other files, well
// known types included, do not resolve.
func newWriterSchema(dp *descriptorpb.DescriptorProto, lenient bool) *writerSchema {
	ws := &writerSchema{plans: map[uint64]planResult{}, lenient: lenient}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("bigquerytest/writer_schema.proto"),
		Syntax:      proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{dp},
	}
	fd, err := protodesc.NewFile(fdp, new(protoregistry.Files))
	if err != nil {
		ws.buildErr = fmt.Errorf("Invalid proto schema: %w.", err) //nolint:staticcheck // BigQuery's wording.
		return ws
	}
	ws.md = fd.Messages().Get(0)
	return ws
}

func (ws *writerSchema) plan(v schemaVersion) (*recordPlan, error) {
	if ws.buildErr != nil {
		return nil, ws.buildErr
	}
	if r, ok := ws.plans[v.id]; ok {
		return r.plan, r.err
	}
	p, err := planRecord(ws.md, v.fields, "", ws.lenient)
	ws.plans[v.id] = planResult{plan: p, err: err}
	return p, err
}

// recordPlan maps the fields of a proto message onto the columns of a table
// (or of a RECORD column).
type recordPlan struct {
	desc    protoreflect.MessageDescriptor
	lenient bool
	columns []*field
	matched []fieldPlan
}

type fieldPlan struct {
	fd   protoreflect.FieldDescriptor
	col  *field
	path string
	sub  *recordPlan // RECORD columns
}

// planRecord checks a writer schema against table columns the way the
// Storage Write API does: every proto field names a column
// (case-insensitively) with a compatible type and the same repetition, and
// every REQUIRED column has a proto field.
//
// A lenient plan (WithDropUnknownFields, WithConnectionSchema) drops the
// fields that do not fit instead.
func planRecord(md protoreflect.MessageDescriptor, cols []*field, prefix string, lenient bool) (*recordPlan, error) {
	p := &recordPlan{desc: md, columns: cols, lenient: lenient}
	var extra []string
	used := map[*field]string{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		path := prefix + string(fd.Name())
		col := lookup(cols, string(fd.Name()))
		if col == nil {
			extra = append(extra, path)
			continue
		}
		if other, dup := used[col]; dup {
			return nil, fmt.Errorf("Proto fields %s and %s both map to BigQuery column %s%s.", other, path, prefix, col.Name) //nolint:staticcheck // BigQuery's wording.
		}
		used[col] = path
		fp, err := planField(fd, col, path, lenient)
		if err != nil && lenient {
			delete(used, col)
			continue
		}
		if err != nil {
			return nil, err
		}
		p.matched = append(p.matched, fp)
	}
	if len(extra) > 0 && !lenient {
		return nil, fmt.Errorf("Input schema has more fields than BigQuery schema, extra fields: '%s'", strings.Join(extra, ",")) //nolint:staticcheck // BigQuery's wording.
	}
	for _, c := range cols {
		if c.Mode == modeRequired {
			if _, ok := used[c]; !ok {
				return nil, fmt.Errorf("The proto schema is missing REQUIRED field %s%s of the BigQuery schema.", prefix, c.Name) //nolint:staticcheck // BigQuery's wording.
			}
		}
	}
	return p, nil
}

func planField(fd protoreflect.FieldDescriptor, col *field, path string, lenient bool) (fieldPlan, error) {
	fp := fieldPlan{fd: fd, col: col, path: path}
	if fd.IsMap() {
		return fp, fmt.Errorf("The proto field %s is a map, which BigQuery does not support.", path) //nolint:staticcheck // BigQuery's wording.
	}
	repeated := fd.Cardinality() == protoreflect.Repeated
	if repeated != col.repeated() {
		label := "non-repeated"
		if repeated {
			label = "repeated"
		}
		return fp, fmt.Errorf("The proto field mismatched with BigQuery field at %s, the proto field is %s, BigQuery field mode %s.", path, label, col.Mode) //nolint:staticcheck // BigQuery's wording.
	}
	if !compatible(col.Type, fd.Kind()) {
		return fp, fmt.Errorf("The proto field mismatched with BigQuery field at %s, the proto field type %s, BigQuery field type %s.", path, fd.Kind(), col.Type) //nolint:staticcheck // BigQuery's wording.
	}
	if col.Type == typeRecord {
		sub, err := planRecord(fd.Message(), col.Fields, path+".", lenient)
		if err != nil {
			return fp, err
		}
		fp.sub = sub
	}
	return fp, nil
}

// kind sets for the compatibility table.
var (
	signed32   = []protoreflect.Kind{protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind}
	unsigned32 = []protoreflect.Kind{protoreflect.Uint32Kind, protoreflect.Fixed32Kind}
	signed64   = []protoreflect.Kind{protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind}
	unsigned64 = []protoreflect.Kind{protoreflect.Uint64Kind, protoreflect.Fixed64Kind}
	stringKind = []protoreflect.Kind{protoreflect.StringKind}
)

func kinds(sets ...[]protoreflect.Kind) map[protoreflect.Kind]bool {
	m := map[protoreflect.Kind]bool{}
	for _, s := range sets {
		for _, k := range s {
			m[k] = true
		}
	}
	return m
}

// compatibleKinds lists, per column type, the proto kinds the Storage Write
// API converts into it.
var compatibleKinds = map[string]map[protoreflect.Kind]bool{
	typeBoolean:    kinds([]protoreflect.Kind{protoreflect.BoolKind}, signed32, unsigned32, signed64, unsigned64),
	typeInteger:    kinds(signed32, unsigned32, signed64, []protoreflect.Kind{protoreflect.EnumKind}),
	typeFloat:      kinds([]protoreflect.Kind{protoreflect.FloatKind, protoreflect.DoubleKind}),
	typeString:     kinds(stringKind, []protoreflect.Kind{protoreflect.EnumKind}),
	typeBytes:      kinds([]protoreflect.Kind{protoreflect.BytesKind}),
	typeTimestamp:  kinds(signed64, stringKind),
	typeDate:       kinds(signed32, signed64, stringKind),
	typeTime:       kinds(signed64, stringKind),
	typeDatetime:   kinds(signed64, stringKind),
	typeGeography:  kinds(stringKind),
	typeNumeric:    kinds(stringKind, []protoreflect.Kind{protoreflect.BytesKind, protoreflect.FloatKind, protoreflect.DoubleKind}, signed32, unsigned32, signed64, unsigned64),
	typeBignumeric: kinds(stringKind, []protoreflect.Kind{protoreflect.BytesKind, protoreflect.FloatKind, protoreflect.DoubleKind}, signed32, unsigned32, signed64, unsigned64),
	typeJSON:       kinds(stringKind),
	typeInterval:   kinds(stringKind),
	typeRecord:     kinds([]protoreflect.Kind{protoreflect.MessageKind, protoreflect.GroupKind}),
}

func compatible(colType string, k protoreflect.Kind) bool { return compatibleKinds[colType][k] }

var errUnknownFields = errors.New("the row has fields unknown to the writer schema")
