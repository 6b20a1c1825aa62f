package bigquery_test

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "google.golang.org/genproto/googleapis/type/date" // google/type/date.proto for the kitchen sink
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/sinktest"
)

// The row bytes, read back with the row descriptor, must be the rows the
// mapping says, for every sample contract.
func TestRowsAreTheMapping(t *testing.T) {
	t.Parallel()
	for subject, s := range sinktest.Schemas(t) {
		if subject == contract.FailedEventSchema().Subject {
			continue // no generator; the conformance suite covers it
		}
		t.Run(subject, func(t *testing.T) {
			rs := rowSchema(t, s)
			for _, ev := range sinktest.Events(t, s, 50) {
				b, err := rs.AppendRow(nil, ev)
				if err != nil {
					t.Fatalf("event %s: %v", ev.ID, err)
				}
				got := decodeRow(t, rs, b)
				want := sinktest.Expected(ev)
				if !reflect.DeepEqual(got, want) {
					for k := range want {
						if !reflect.DeepEqual(got[k], want[k]) {
							t.Errorf("column %s: got %#v, want %#v", k, got[k], want[k])
						}
					}
					t.Fatalf("event %s differs", ev.ID)
				}
			}
		})
	}
}

// An older version's payload becomes a row of the newer table: the new
// column is NULL.
func TestOlderVersionRows(t *testing.T) {
	t.Parallel()
	v1, v2 := sinktest.V2(t)
	rs := rowSchema(t, v2)
	ev := sinktest.Events(t, v1, 1)[0]
	b, err := rs.AppendRow(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeRow(t, rs, b)
	if v, ok := got["note"]; !ok || v != nil {
		t.Fatalf("note of a version 1 row = %#v (present %v), want NULL", v, ok)
	}
	if got["order_id"] != sinktest.Expected(ev)["order_id"] {
		t.Fatalf("order_id = %v", got["order_id"])
	}
}

// Corrupt payloads are errors, never panics or rows.
func TestCorruptPayload(t *testing.T) {
	t.Parallel()
	s := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	rs := rowSchema(t, s)
	ev := sinktest.Events(t, s, 1)[0]
	for _, payload := range [][]byte{{0xff}, {0x0a, 0x05, 'a'}, append(append([]byte{}, ev.Payload...), 0x12)} {
		bad := *ev
		bad.Payload = payload
		if _, err := rs.AppendRow(nil, &bad); err == nil {
			t.Errorf("payload %x: no error", payload)
		}
	}
}

func FuzzAppendRow(f *testing.F) {
	s := sinktest.Schemas(f)["shop.orders.v1.OrderPlaced"]
	rs := rowSchema(f, s)
	for _, ev := range sinktest.Events(f, s, 3) {
		f.Add(ev.Payload)
	}
	ev := sinktest.Events(f, s, 1)[0]
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := *ev
		e.Payload = payload
		b, err := rs.AppendRow(nil, &e)
		if err != nil {
			return
		}
		// Whatever was accepted is a valid row message.
		if err := proto.Unmarshal(b, dynamicpb.NewMessage(rs.MessageDescriptor())); err != nil {
			t.Fatalf("row of %x does not decode: %v", payload, err)
		}
	})
}

// rowSchema is the row schema of a version's table.
func rowSchema(t testing.TB, s *contract.Schema) *bigquery.RowSchema {
	t.Helper()
	table, err := contract.MapTable(s.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := bigquery.NewRowSchema(table)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// decodeRow reads row bytes with the row descriptor into sinktest's form.
func decodeRow(t testing.TB, rs *bigquery.RowSchema, b []byte) sinktest.Row {
	t.Helper()
	m := dynamicpb.NewMessage(rs.MessageDescriptor())
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("row does not decode: %v", err)
	}
	return normalizeRow(rs.Table().Columns, messageValues(m))
}

// messageValues reads a row message into the typed values BigQuery returns
// (the shape bigquerytest.Server.Rows uses).
func messageValues(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			vs := make([]any, l.Len())
			for j := range l.Len() {
				vs[j] = scalarValue(fd, l.Get(j))
			}
			out[name] = vs
		case m.Has(fd):
			out[name] = scalarValue(fd, m.Get(fd))
		default:
			out[name] = nil
		}
	}
	return out
}

func scalarValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	if fd.Kind() == protoreflect.MessageKind {
		return messageValues(v.Message())
	}
	return v.Interface()
}

// normalizeRow turns typed BigQuery values into sinktest.Row by column type.
func normalizeRow(cols []contract.Column, vals map[string]any) sinktest.Row {
	r := sinktest.Row{}
	for _, c := range cols {
		v, ok := vals[c.Name]
		if !ok {
			r[c.Name] = nil
			continue
		}
		if c.Mode == contract.Repeated {
			list, _ := v.([]any)
			out := []any{}
			for _, x := range list {
				out = append(out, normalizeValue(c, x))
			}
			if c.Field != nil && c.Field.IsMap() {
				sort.Slice(out, func(i, j int) bool {
					return fmt.Sprint(out[i].(sinktest.Row)["key"]) < fmt.Sprint(out[j].(sinktest.Row)["key"])
				})
			}
			r[c.Name] = out
			continue
		}
		r[c.Name] = normalizeValue(c, v)
	}
	return r
}

func normalizeValue(c contract.Column, v any) any {
	if v == nil {
		return nil
	}
	switch c.Type {
	case contract.Record:
		return normalizeRow(c.Fields, v.(map[string]any))
	case contract.Timestamp:
		switch v := v.(type) {
		case int64:
			return sinktest.Time(time.UnixMicro(v))
		case time.Time:
			return sinktest.Time(v)
		}
	case contract.Date:
		switch v := v.(type) {
		case int32:
			return time.Unix(int64(v)*86400, 0).UTC()
		case time.Time:
			return v
		}
	case contract.JSON:
		return sinktest.CompactJSON(v.(string))
	case contract.Interval:
		return parseInterval(v.(string)).String()
	case contract.Int64:
		if i, ok := v.(int32); ok {
			return int64(i)
		}
	}
	return v
}

// parseInterval reads the time part of BigQuery's canonical INTERVAL text.
func parseInterval(s string) time.Duration {
	parts := strings.Fields(s)
	hms := parts[len(parts)-1]
	neg := strings.HasPrefix(hms, "-")
	hms = strings.TrimPrefix(hms, "-")
	f := strings.SplitN(hms, ":", 3)
	h, _ := strconv.ParseInt(f[0], 10, 64)
	m, _ := strconv.ParseInt(f[1], 10, 64)
	sec, _ := strconv.ParseFloat(f[2], 64)
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*1e6)*time.Microsecond
	if neg {
		d = -d
	}
	return d
}

const kitchenSink = `syntax = "proto3";
package test.kinds.v1;
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/type/date.proto";
import "hem/options/v1/options.proto";
enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
}
message Inner {
  sint32 s32 = 1;
  repeated float floats = 2;
}
message Kinds {
  option (hem.options.v1.event) = {};
  int32 i32 = 1;
  int64 i64 = 2;
  uint32 u32 = 3;
  uint64 u64 = 4;
  sint32 s32 = 5;
  sint64 s64 = 6;
  fixed32 f32 = 7;
  fixed64 f64 = 8;
  sfixed32 sf32 = 9;
  sfixed64 sf64 = 10;
  float fl = 11;
  double db = 12;
  bool b = 13;
  string s = 14;
  bytes by = 15;
  Color color = 16;
  optional string opt = 17;
  google.protobuf.Timestamp at = 18;
  google.protobuf.Duration took = 19;
  google.type.Date day = 20;
  google.protobuf.Struct doc = 21;
  google.protobuf.UInt64Value big = 22;
  google.protobuf.StringValue name = 23;
  repeated sint64 zigzags = 24;
  repeated Color colors = 25;
  map<int32, Inner> inners = 26;
  Inner inner = 27;
  oneof choice {
    string text = 28;
    double number = 29;
  }
  repeated google.protobuf.Timestamp times = 30;
}`

// Every proto kind becomes the value the mapping says, including the ones
// the sample contracts do not use.
func TestEveryKind(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileSources(t.Context(), map[string]string{"test/kinds/v1/kinds.proto": kitchenSink})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("test.kinds.v1.Kinds")
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(7, 1, contract.Usable, time.Now())
	rs := rowSchema(t, s)
	full := `{"i32": -5, "i64": "-9000000000", "u32": 4000000000, "u64": "18446744073709551615",
	  "s32": -77, "s64": "-123456789012", "f32": 4294967295, "f64": "18446744073709551614",
	  "sf32": -2, "sf64": "-3", "fl": 1.5, "db": -2.25, "b": true, "s": "héllo", "by": "AAEC",
	  "color": "COLOR_RED", "opt": "", "at": "2026-11-22T10:00:00.123456Z", "took": "-90.5s",
	  "day": {"year": 2026, "month": 2, "day": 28}, "doc": {"a": [1, "x", null], "b": {"c": true}},
	  "big": "42", "name": "", "zigzags": ["-1", "2", "-3"], "colors": ["COLOR_RED", 7],
	  "inners": {"3": {"s32": -3, "floats": [0.5, 2]}, "-1": {}}, "inner": {"s32": 9},
	  "number": 3.5, "times": ["1970-01-01T00:00:00Z", "1969-12-31T23:59:59.5Z"]}`
	for name, js := range map[string]string{"every field set": full, "nothing set": `{}`, "only the oneof's text": `{"text": "t"}`} {
		t.Run(name, func(t *testing.T) {
			m := s.NewMessage()
			if err := protojson.Unmarshal([]byte(js), m.Interface()); err != nil {
				t.Fatal(err)
			}
			payload, err := proto.Marshal(m.Interface())
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			ev := &sink.Event{ID: "k-1", Schema: s, Payload: payload, Message: m, EventTime: at,
				Attributes: map[string]string{"quote": "a\"b\\c\n\x01", "city": "Zürich", "html": "<&>"}}
			b, err := rs.AppendRow(nil, ev)
			if err != nil {
				t.Fatal(err)
			}
			got, want := decodeRow(t, rs, b), sinktest.Expected(ev)
			for k := range want {
				if !reflect.DeepEqual(got[k], want[k]) {
					t.Errorf("column %s: got %#v, want %#v", k, got[k], want[k])
				}
			}
		})
	}
}
