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
	var failed map[int]error
	rows := make([][]driver.Value, 0, len(events))
	for i, e := range events {
		row, err := rowOf(byName, cols, e)
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

func rowOf(byName map[string]contract.Column, cols []string, e *sink.Event) (row []driver.Value, err error) {
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
			c, ok := byName[strings.ToLower(name)]
			if !ok || c.Field == nil {
				continue // a column of another version: NULL
			}
			v, err := fieldValue(c, msg)
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

// fieldValue is the value of column c in message m, which may be of an
// older version than the column (then the field may be absent: NULL).
func fieldValue(c contract.Column, m protoreflect.Message) (any, error) {
	fd := m.Descriptor().Fields().ByNumber(c.Field.Number())
	if fd == nil || fd.Name() != c.Field.Name() {
		return nil, nil
	}
	if c.Mode == contract.Repeated {
		out := []any{}
		if fd.IsMap() {
			key, val := c.Fields[0], c.Fields[1]
			var err error
			m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				var kv, vv any
				if kv, err = value(key, fd.MapKey(), k.Value()); err != nil {
					return false
				}
				if vv, err = value(val, fd.MapValue(), v); err != nil {
					return false
				}
				out = append(out, map[string]any{"key": kv, "value": vv})
				return true
			})
			return out, err
		}
		l := m.Get(fd).List()
		for i := range l.Len() {
			v, err := value(c, fd, l.Get(i))
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
	return value(c, fd, m.Get(fd))
}

// value converts one value of fd into what the Appender takes for column c.
func value(c contract.Column, fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch c.Type {
	case contract.Record:
		sub := v.Message()
		out := make(map[string]any, len(c.Fields))
		for _, f := range c.Fields {
			fv, err := fieldValue(f, sub)
			if err != nil {
				return nil, err
			}
			out[f.Name] = fv
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
	kind := fd.Kind()
	if kind == protoreflect.MessageKind && contract.IsWrapper(fd.Message()) {
		var inner protoreflect.FieldDescriptor
		v, inner = contract.Unwrap(v.Message())
		kind = inner.Kind()
	}
	return scalar(kind, fd, v), nil
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
