package restore

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// appendJSON appends e as one line of newline-delimited JSON for a
// BigQuery load job into a table with t's columns (t's version or newer
// than e's): metadata columns, then each mapped field of e's message, in
// the forms a JSON load takes (TIMESTAMP and DATE as text, BYTES in
// base64, NUMERIC and INTERVAL as text, a map as key/value records).
// Absent fields are left out: NULL.
func appendJSON(dst []byte, t *contract.Table, e *sink.Event) ([]byte, error) {
	row := map[string]any{
		contract.ColEventID:       e.ID,
		contract.ColEventTime:     timestamp(e.EventTime),
		contract.ColSchemaID:      e.Schema.ID,
		contract.ColSchemaVersion: e.Schema.Version,
	}
	if !e.ReceivedAt.IsZero() {
		row[contract.ColReceivedAt] = timestamp(e.ReceivedAt)
	}
	if !e.PublishedAt.IsZero() {
		row[contract.ColPublishedAt] = timestamp(e.PublishedAt)
	}
	if e.Producer != "" {
		row[contract.ColProducer] = e.Producer
	}
	if len(e.Attributes) > 0 {
		row[contract.ColAttributes] = e.Attributes
	}
	for _, c := range t.Columns {
		if c.Field == nil {
			continue
		}
		v, err := jsonField(c, e.Message)
		if err != nil {
			return nil, fmt.Errorf("event %s: %s: %w", e.ID, c.Name, err)
		}
		if v != nil {
			row[c.Name] = v
		}
	}
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	return append(append(dst, b...), '\n'), nil
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z") }

// jsonField is column c's value in m, which may be of an older version
// than c (the field absent: nil).
func jsonField(c contract.Column, m protoreflect.Message) (any, error) {
	fd := m.Descriptor().Fields().ByNumber(c.Field.Number())
	if fd == nil || fd.Name() != c.Field.Name() {
		return nil, nil
	}
	if c.Mode == contract.Repeated {
		out := []any{}
		if fd.IsMap() {
			var err error
			m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				var kv, vv any
				if kv, err = jsonValue(c.Fields[0], fd.MapKey(), k.Value()); err != nil {
					return false
				}
				if vv, err = jsonValue(c.Fields[1], fd.MapValue(), v); err != nil {
					return false
				}
				out = append(out, map[string]any{c.Fields[0].Name: kv, c.Fields[1].Name: vv})
				return true
			})
			return out, err
		}
		l := m.Get(fd).List()
		for i := range l.Len() {
			v, err := jsonValue(c, fd, l.Get(i))
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
	return jsonValue(c, fd, m.Get(fd))
}

func jsonValue(c contract.Column, fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch c.Type {
	case contract.Record:
		sub := v.Message()
		out := make(map[string]any, len(c.Fields))
		for _, f := range c.Fields {
			fv, err := jsonField(f, sub)
			if err != nil {
				return nil, err
			}
			if fv != nil {
				out[f.Name] = fv
			}
		}
		return out, nil
	case contract.Timestamp:
		return timestamp(contract.TimestampValue(v.Message())), nil
	case contract.Interval:
		return interval(contract.DurationMicros(v.Message())), nil
	case contract.Date:
		return contract.DateValue(v.Message()).Format(time.DateOnly), nil
	case contract.JSON:
		b, err := contract.JSONValue(v.Message())
		if err != nil {
			return nil, err
		}
		return json.RawMessage(b), nil
	}
	kind := fd.Kind()
	if kind == protoreflect.MessageKind && contract.IsWrapper(fd.Message()) {
		v, fd = contract.Unwrap(v.Message())
		kind = fd.Kind()
	}
	switch kind {
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10), nil // text: JSON numbers lose int64 digits
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN", nil
		case math.IsInf(f, 1):
			return "Infinity", nil
		case math.IsInf(f, -1):
			return "-Infinity", nil
		}
		return f, nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		return v.Bytes(), nil // base64, as BigQuery reads BYTES from JSON
	case protoreflect.EnumKind:
		return contract.EnumValue(fd.Enum(), v.Enum()), nil
	}
	return nil, fmt.Errorf("unsupported kind %s", kind)
}

// interval is BigQuery's canonical INTERVAL text, Y-M D H:M:S[.F], all in
// the time part (a Duration has no calendar units).
func interval(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	secs := micros / 1_000_000
	var b strings.Builder
	fmt.Fprintf(&b, "0-0 0 %s%d:%d:%d", sign, secs/3600, secs/60%60, secs%60)
	if us := micros % 1_000_000; us > 0 {
		fmt.Fprintf(&b, ".%06d", us)
	}
	return b.String()
}
