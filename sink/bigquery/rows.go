package bigquery

import (
	"fmt"
	"strings"
	"sync"

	"cloud.google.com/go/bigquery/storage/managedwriter/adapt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
)

// RowSchema is the derived row message of one table version: the table's
// columns as a proto2 message whose field types are the ones the Storage
// Write API documents for each column type (docs/EVOLUTION.md, "Values"), and
// the transcoders that turn payloads of any older or equal version into it.
type RowSchema struct {
	table      *contract.Table
	desc       protoreflect.MessageDescriptor
	normalized *descriptorpb.DescriptorProto
	schemaSize int // bytes of the writer schema in a request
	meta       metaNumbers

	mu    sync.RWMutex
	plans map[protoreflect.MessageDescriptor]*msgPlan
}

// metaNumbers are the row field numbers of the metadata columns.
type metaNumbers struct {
	eventID, eventTime, receivedAt, publishedAt, schemaID, schemaVersion, producer, attributes protowire.Number
}

// NewRowSchema derives the row message of t.
func NewRowSchema(t *contract.Table) (*RowSchema, error) {
	row := rowMessage("Row", t.Columns)
	file := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("hem/bigquery/" + t.Name + ".proto"),
		Package:     proto.String("hem.bigquery.rows"),
		Syntax:      proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{row},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		return nil, fmt.Errorf("bigquery: row message of %s: %w", t.Name, err)
	}
	md := fd.Messages().Get(0)
	normalized, err := adapt.NormalizeDescriptor(md)
	if err != nil {
		return nil, fmt.Errorf("bigquery: normalize the row message of %s: %w", t.Name, err)
	}
	rs := &RowSchema{table: t, desc: md, normalized: normalized, schemaSize: proto.Size(normalized), plans: map[protoreflect.MessageDescriptor]*msgPlan{}}
	for i, c := range t.Columns {
		n := protowire.Number(i + 1)
		switch c.Name {
		case contract.ColEventID:
			rs.meta.eventID = n
		case contract.ColEventTime:
			rs.meta.eventTime = n
		case contract.ColReceivedAt:
			rs.meta.receivedAt = n
		case contract.ColPublishedAt:
			rs.meta.publishedAt = n
		case contract.ColSchemaID:
			rs.meta.schemaID = n
		case contract.ColSchemaVersion:
			rs.meta.schemaVersion = n
		case contract.ColProducer:
			rs.meta.producer = n
		case contract.ColAttributes:
			rs.meta.attributes = n
		}
	}
	return rs, nil
}

// Table is the table the rows are for.
func (rs *RowSchema) Table() *contract.Table { return rs.table }

// Descriptor is the self-contained, normalized descriptor sent as the
// writer schema.
func (rs *RowSchema) Descriptor() *descriptorpb.DescriptorProto { return rs.normalized }

// MessageDescriptor describes the row message (for reading rows back).
func (rs *RowSchema) MessageDescriptor() protoreflect.MessageDescriptor { return rs.desc }

// plan returns the transcoder from payloads described by src to rows.
func (rs *RowSchema) plan(src protoreflect.MessageDescriptor) (*msgPlan, error) {
	rs.mu.RLock()
	p, ok := rs.plans[src]
	rs.mu.RUnlock()
	if ok {
		return p, nil
	}
	cols := rs.table.Columns
	p, err := newMsgPlan(src, cols, rs.desc)
	if err != nil {
		return nil, fmt.Errorf("bigquery: %s rows from %s: %w", rs.table.Name, src.FullName(), err)
	}
	rs.mu.Lock()
	rs.plans[src] = p
	rs.mu.Unlock()
	return p, nil
}

// rowMessage describes a message of cols, with a nested message per RECORD
// column.
func rowMessage(name string, cols []contract.Column) *descriptorpb.DescriptorProto {
	m := &descriptorpb.DescriptorProto{Name: proto.String(name)}
	for i, c := range cols {
		f := &descriptorpb.FieldDescriptorProto{
			Name:   proto.String(c.Name),
			Number: proto.Int32(int32(i + 1)),
			Label:  descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}
		if c.Mode == contract.Repeated {
			f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}
		if c.Type == contract.Record {
			nested := rowMessage(recordName(c.Name, i), c.Fields)
			m.NestedType = append(m.NestedType, nested)
			f.Type = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
			f.TypeName = proto.String(nested.GetName())
		} else {
			f.Type = rowFieldType(c.Type).Enum()
		}
		m.Field = append(m.Field, f)
	}
	return m
}

// recordName names a nested row message; the index keeps names unique
// where columns differ only in case.
func recordName(column string, i int) string {
	return fmt.Sprintf("R%d_%s", i+1, strings.ReplaceAll(column, ".", "_"))
}

// rowFieldType is the row message field type of a column type.
func rowFieldType(t contract.Type) descriptorpb.FieldDescriptorProto_Type {
	switch t {
	case contract.Bool:
		return descriptorpb.FieldDescriptorProto_TYPE_BOOL
	case contract.Int64, contract.Timestamp:
		return descriptorpb.FieldDescriptorProto_TYPE_INT64
	case contract.Date:
		return descriptorpb.FieldDescriptorProto_TYPE_INT32
	case contract.Float64:
		return descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
	case contract.Bytes:
		return descriptorpb.FieldDescriptorProto_TYPE_BYTES
	}
	// STRING, NUMERIC (decimal), JSON (text) and INTERVAL (canonical text).
	return descriptorpb.FieldDescriptorProto_TYPE_STRING
}
