package duckdb

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// buildRows converts events into rows in the table's column order. An
// event that cannot be converted fails alone, for good.
func buildRows(t *contract.Table, cols []string, events []*sink.Event) ([][]driver.Value, map[int]error) {
	byName := make(map[string]contract.Column, len(t.Columns))
	for _, c := range t.Columns {
		byName[strings.ToLower(c.Name)] = c
	}
	// A batch holds one or a few versions: each column is resolved against
	// each message descriptor once, not for every row.
	plans := map[protoreflect.MessageDescriptor][]fieldPlan{}
	payload := false // whether a column reads the message
	for _, name := range cols {
		if c, ok := byName[strings.ToLower(name)]; ok && c.Field != nil {
			payload = true
		}
	}
	var failed map[int]error
	rows := make([][]driver.Value, 0, len(events))
	for i, e := range events {
		var plan []fieldPlan
		if e.Message == nil && payload {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[i] = sink.Permanent(fmt.Errorf("duckdb: event %s: no decoded message", e.ID))
			continue
		}
		if e.Message != nil {
			md := e.Message.Descriptor()
			var ok bool
			if plan, ok = plans[md]; !ok {
				plan = planRow(byName, cols, md)
				plans[md] = plan
			}
		}
		row, err := rowOf(plan, cols, e)
		if err != nil {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[i] = sink.Permanent(fmt.Errorf("duckdb: event %s: %w", e.ID, err))
			continue
		}
		rows = append(rows, row)
	}
	return rows, failed
}

// fieldPlan is a column resolved against the message descriptor that holds
// its field.
type fieldPlan struct {
	c contract.Column
	// fd is the column's field in that descriptor; nil when this version
	// of the message has no such field (the column reads NULL).
	fd protoreflect.FieldDescriptor
	// sub plans the fields of a record column within fd's message; key
	// and val the entry columns of a map.
	sub      []fieldPlan
	key, val *fieldPlan
	// inner is the field inside a wrapper message, nil for other fields.
	inner protoreflect.FieldDescriptor
}

// planRow plans the payload columns of cols (by name, from byName) within
// md; metadata columns and columns of other versions get no field.
func planRow(byName map[string]contract.Column, cols []string, md protoreflect.MessageDescriptor) []fieldPlan {
	plan := make([]fieldPlan, len(cols))
	for i, name := range cols {
		if c, ok := byName[strings.ToLower(name)]; ok && c.Field != nil {
			plan[i] = planField(c, md)
		}
	}
	return plan
}

// planField resolves column c in md as fieldValue did for every row: the
// field of c's number, if it has c's name.
func planField(c contract.Column, md protoreflect.MessageDescriptor) fieldPlan {
	p := fieldPlan{c: c}
	fd := md.Fields().ByNumber(c.Field.Number())
	if fd == nil || fd.Name() != c.Field.Name() {
		return p
	}
	p.fd = fd
	if c.Mode == contract.Repeated && fd.IsMap() {
		key := planValue(c.Fields[0], fd.MapKey())
		val := planValue(c.Fields[1], fd.MapValue())
		p.key, p.val = &key, &val
		return p
	}
	return planValue(c, fd)
}

// planValue plans the values of fd in column c.
func planValue(c contract.Column, fd protoreflect.FieldDescriptor) fieldPlan {
	p := fieldPlan{c: c, fd: fd}
	switch c.Type {
	case contract.Record:
		sub := fd.Message()
		p.sub = make([]fieldPlan, len(c.Fields))
		for i, f := range c.Fields {
			p.sub[i] = planField(f, sub)
		}
	case contract.Timestamp, contract.Interval, contract.Date, contract.JSON:
	default:
		if fd.Kind() == protoreflect.MessageKind && contract.IsWrapper(fd.Message()) {
			p.inner = fd.Message().Fields().ByNumber(1) // every wrapper's value
		}
	}
	return p
}

func rowOf(plan []fieldPlan, cols []string, e *sink.Event) (row []driver.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("convert: %v", r)
		}
	}()
	row = make([]driver.Value, len(cols))
	msg := e.Message
	for i, name := range cols {
		switch name {
		case contract.ColEventID:
			row[i] = e.ID
		case contract.ColEventTime:
			row[i] = e.EventTime.UTC()
		case contract.ColReceivedAt:
			row[i] = timeOrNil(e.ReceivedAt)
		case contract.ColPublishedAt:
			row[i] = timeOrNil(e.PublishedAt)
		case contract.ColSchemaID:
			row[i] = e.Schema.ID
		case contract.ColSchemaVersion:
			row[i] = int64(e.Schema.Version)
		case contract.ColProducer:
			if e.Producer != "" {
				row[i] = e.Producer
			}
		case contract.ColAttributes:
			if len(e.Attributes) > 0 {
				b, err := json.Marshal(e.Attributes)
				if err != nil {
					return nil, err
				}
				row[i] = json.RawMessage(b)
			}
		default:
			if plan == nil || plan[i].fd == nil {
				continue // a column of another version: NULL
			}
			v, err := plan[i].field(msg)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			row[i] = v
		}
	}
	return row, nil
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// field is the value of p's column in message m, of the descriptor p was
// planned in (NULL when that version has no such field).
func (p *fieldPlan) field(m protoreflect.Message) (any, error) {
	fd := p.fd
	if fd == nil {
		return nil, nil
	}
	if p.c.Mode == contract.Repeated {
		if p.key != nil {
			mv := m.Get(fd).Map()
			out := make([]any, 0, mv.Len())
			var err error
			mv.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				var kv, vv any
				if kv, err = p.key.value(k.Value()); err != nil {
					return false
				}
				if vv, err = p.val.value(v); err != nil {
					return false
				}
				out = append(out, map[string]any{"key": kv, "value": vv})
				return true
			})
			return out, err
		}
		l := m.Get(fd).List()
		out := make([]any, 0, l.Len())
		for i := range l.Len() {
			v, err := p.value(l.Get(i))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	if fd.HasPresence() && !m.Has(fd) {
		return nil, nil
	}
	return p.value(m.Get(fd))
}

// value converts one value of p's field into what the Appender takes for
// its column.
func (p *fieldPlan) value(v protoreflect.Value) (any, error) {
	switch p.c.Type {
	case contract.Record:
		sub := v.Message()
		out := make(map[string]any, len(p.sub))
		for i := range p.sub {
			fv, err := p.sub[i].field(sub)
			if err != nil {
				return nil, err
			}
			out[p.sub[i].c.Name] = fv
		}
		return out, nil
	case contract.Timestamp:
		return contract.TimestampValue(v.Message()), nil
	case contract.Interval:
		return duckdbdriver.Interval{Micros: contract.DurationMicros(v.Message())}, nil
	case contract.Date:
		return contract.DateValue(v.Message()), nil
	case contract.JSON:
		b, err := contract.JSONValue(v.Message())
		if err != nil {
			return nil, err
		}
		return json.RawMessage(b), nil
	}
	if p.inner != nil {
		return scalar(p.inner.Kind(), p.fd, v.Message().Get(p.inner)), nil
	}
	return scalar(p.fd.Kind(), p.fd, v), nil
}

func scalar(kind protoreflect.Kind, fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch kind {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(v.Uint())
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return duckdbdriver.Decimal{Width: 38, Scale: 0, Value: new(big.Int).SetUint64(v.Uint())}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return v.Bytes()
	case protoreflect.EnumKind:
		var ed protoreflect.EnumDescriptor
		if fd != nil {
			ed = fd.Enum()
		}
		return contract.EnumValue(ed, v.Enum())
	}
	return nil
}
