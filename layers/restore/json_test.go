package restore

import (
	"encoding/json"
	"testing"
	"time"

	_ "google.golang.org/genproto/googleapis/type/date" // google/type/date.proto
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// The load job reads each mapped type in the form BigQuery's JSON loads
// take: the values the other sinks show, as text where JSON would lose
// them.
func TestAppendJSONForms(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileSources(t.Context(), map[string]string{"j/v1/k.proto": `syntax = "proto3";
package j.v1;
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
message K {
  option (hem.options.v1.event) = {};
  google.protobuf.Timestamp at = 1;
  google.protobuf.Duration took = 2;
  google.protobuf.Duration back = 3;
  google.type.Date day = 4;
  google.protobuf.Int64Value big = 5;
  Color color = 6;
  Color newer = 7;
  google.protobuf.Struct doc = 8;
  map<string, int64> counts = 9;
}
`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("j.v1.K")
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(1, 1, contract.Usable, time.Time{})
	m := s.NewMessage()
	if err := protojson.Unmarshal([]byte(`{"at": "2026-12-01T13:04:05.123456789Z", "took": "3723.5s", "back": "-1.000002s",
		"day": {"year": 2026, "month": 2, "day": 3}, "big": "9007199254740993", "color": "COLOR_RED", "newer": 7,
		"doc": {"a": [1, "x"]}, "counts": {"k": "2"}}`), m.Interface()); err != nil {
		t.Fatal(err)
	}
	table, err := contract.MapTable(s.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	line, err := appendJSON([]byte("prev\n"), table, &sink.Event{ID: "e1", Schema: s, Message: m, EventTime: at})
	if err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal(line[len("prev\n"):], &row); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	for col, want := range map[string]any{
		"at":     "2026-12-01T13:04:05.123456Z",
		"took":   "0-0 0 1:2:3.500000",
		"back":   "0-0 0 -0:0:1.000002",
		"day":    "2026-02-03",
		"big":    "9007199254740993",
		"color":  "COLOR_RED",
		"newer":  "7",
		"doc":    map[string]any{"a": []any{1.0, "x"}},
		"counts": []any{map[string]any{"key": "k", "value": "2"}},
	} {
		if got, _ := json.Marshal(row[col]); string(got) != mustJSON(t, want) {
			t.Errorf("%s = %s, want %s", col, got, mustJSON(t, want))
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
