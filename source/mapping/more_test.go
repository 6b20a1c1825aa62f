package mapping_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

// TestEventTime: event_time is a column (RFC 3339) or an expression; an
// optional that is none leaves it zero (the loader then takes the object's
// creation time); a bad value rejects the record under event_time.
func TestEventTime(t *testing.T) {
	t.Parallel()
	md := all(t)
	tests := []struct {
		expr, in string
		want     time.Time
		wantErr  string
	}{
		{expr: "c", in: "2026-12-07T10:00:00+01:00", want: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)},
		{expr: "c", in: "", want: time.Time{}},
		{expr: "c", in: "gestern", wantErr: `event_time (column c): not an RFC 3339 timestamp (2026-12-07T10:00:00Z): "gestern"`},
		{expr: `date(row.c, "DD.MM.YYYY", "Europe/Berlin")`, in: "07.12.2026", want: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)},
		{expr: `row.c == "" ? optional.none() : optional.of(timestamp(row.c))`, in: "", want: time.Time{}},
		{expr: `timestamp(row.c)`, in: "x", wantErr: "event_time (column c): "},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, withEventTime(csvSource([]string{"c"}, map[string]string{"st": `"x"`}), tt.expr), md)
			got, err := m.Map(csvRecord([]string{"c"}, tt.in))
			if tt.wantErr != "" {
				if !errors.As(err, new(*mapping.MapError)) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Map: %v, want a *MapError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.EventTime.Equal(tt.want) || got.EventTime.IsZero() != tt.want.IsZero() {
				t.Fatalf("Map: %v, %v; want %v", got.EventTime, err, tt.want)
			}
		})
	}
}

// TestKey: the key's values are the mapped fields' values as text, in the
// declared order: enums by name, timestamps in RFC 3339 (UTC), unset as "".
func TestKey(t *testing.T) {
	t.Parallel()
	md := all(t)
	src := withKey(csvSource([]string{"c", "d"}, map[string]string{
		"color": "c", "ts": "d", "bo": `row.c == "RED"`, "st": "row.c.lowerAscii()", "u64": "uint(size(row.c))", "db": "1.5", "by": `b"\xff"`, "i32": "-3",
	}), "st", "color", "ts", "bo", "u64", "db", "by", "i32")
	m := mustCompile(t, src, md)
	got, err := m.Map(csvRecord([]string{"c", "d"}, "RED", "2026-12-07T10:00:00.5+01:00"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"red", "COLOR_RED", "2026-12-07T09:00:00.5Z", "true", "3", "1.5", "/w==", "-3"}; !slices.Equal(got.Key, want) {
		t.Fatalf("key %q, want %q", got.Key, want)
	}
	got, err = m.Map(csvRecord([]string{"c", "d"}, "7", ""))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"7", "7", "", "false", "1", "1.5", "/w==", "-3"}; !slices.Equal(got.Key, want) {
		t.Fatalf("key %q, want %q", got.Key, want)
	}
	if got, err := mustCompile(t, csvSource([]string{"c"}, map[string]string{"st": "c"}), md).Map(csvRecord([]string{"c"}, "x")); err != nil || got.Key != nil {
		t.Fatalf("without a key: %q, %v", got.Key, err)
	}
}

// TestOneof: members of one oneof may be mapped, but a record that sets
// more than one is rejected.
func TestOneof(t *testing.T) {
	t.Parallel()
	md := all(t)
	m := mustCompile(t, csvSource([]string{"a", "b"}, map[string]string{"one_a": "a", "one_b": "b"}), md)
	got, err := m.Map(csvRecord([]string{"a", "b"}, "", "5"))
	if err != nil {
		t.Fatal(err)
	}
	if msg, want := decode(t, md, got.Payload), text(t, md, "one_b: 5"); !proto.Equal(msg, want) {
		t.Fatalf("got %v, want %v", msg, want)
	}
	_, err = m.Map(csvRecord([]string{"a", "b"}, "x", "5"))
	var me *mapping.MapError
	if !errors.As(err, &me) || me.Message != "fields one_a and one_b are in one oneof: only one may be set" {
		t.Fatalf("Map: %v", err)
	}
}

// TestColumnNames: a column whose name is not an identifier is read by its
// exact name, or by row["..."] in an expression; has() and row.? test a
// column's presence (JSON), and an undeclared one is refused.
func TestColumnNames(t *testing.T) {
	t.Parallel()
	md := all(t)
	m := mustCompile(t, csvSource([]string{"Artikel Nr", "preis-eur"}, map[string]string{"st": "Artikel Nr", "i64": `scaled(row["preis-eur"], 2, ",")`}), md)
	got, err := m.Map(csvRecord([]string{"preis-eur", "Artikel Nr"}, "1,5", "A 1"))
	if err != nil {
		t.Fatal(err)
	}
	if msg, want := decode(t, md, got.Payload), text(t, md, `st: "A 1" i64: 150`); !proto.Equal(msg, want) {
		t.Fatalf("got %v, want %v", msg, want)
	}
	js := mustCompile(t, jsonSource([]string{"a", "b"}, map[string]string{"st": `has(row.a) ? string(row.a) : "none"`, "i64": `row.?b.orValue(7)`}), md)
	got, err = js.Map(read.Record{Object: map[string]any{"b": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if msg, want := decode(t, md, got.Payload), text(t, md, `st: "none"`); !proto.Equal(msg, want) {
		t.Fatalf("got %v, want %v", msg, want)
	}
	_, err = mapping.Compile(jsonSource([]string{"a"}, map[string]string{"st": `has(row.x) ? "a" : "b"`}), md)
	if err == nil || !strings.Contains(err.Error(), "fields[st]: unknown column x") {
		t.Fatalf("Compile: %v", err)
	}
}

// TestRecordLacksColumn: a record whose header lacks a column the mapping
// reads is rejected (the reader refuses such a file before; this is the
// mapping's own guard).
func TestRecordLacksColumn(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, csvSource([]string{"a", "b"}, map[string]string{"st": "a", "i64": "int(row.b)"}), all(t))
	_, err := m.Map(csvRecord([]string{"b"}, "1"))
	if err == nil || err.Error() != "st (column a): the record has no column a" {
		t.Fatalf("Map: %v", err)
	}
	_, err = m.Map(csvRecord([]string{"a"}, "1"))
	if err == nil || !strings.Contains(err.Error(), "i64 (column b): no such key: b") {
		t.Fatalf("Map: %v", err)
	}
}

// TestParquetValues: Parquet records hold Go values (int32, float32,
// []byte, time.Time): column reads and expressions take them.
func TestParquetValues(t *testing.T) {
	t.Parallel()
	md := all(t)
	src := jsonSource(nil, map[string]string{"i32": "a", "u64": "b", "fl": "c", "st": "d", "ts": "e", "by": "f", "db": "double(row.?a.orValue(0)) + double(row.?c.orValue(0))", "bo": "g", "i64": "h"})
	src.Format.Kind = &sourcev1.Format_Parquet{Parquet: &sourcev1.Parquet{}}
	m := mustCompile(t, src, md)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	got, err := m.Map(read.Record{Object: map[string]any{"a": int32(-5), "b": uint64(7), "c": float32(1.5), "d": []byte("x"), "e": at, "f": []byte{0xff}, "g": true, "h": int64(1) << 40}})
	if err != nil {
		t.Fatal(err)
	}
	want := text(t, md, `i32: -5 u64: 7 fl: 1.5 st: "x" ts: {seconds: 1796637600} by: "\xff" db: -3.5 bo: true i64: 1099511627776`)
	if msg := decode(t, md, got.Payload); !proto.Equal(msg, want) {
		t.Fatalf("got %v, want %v", msg, want)
	}
	for field, obj := range map[string]map[string]any{"i32": {"a": int64(1) << 40}, "ts": {"e": int64(5)}, "bo": {"g": "maybe"}, "u64": {"b": int32(-1)}} {
		var me *mapping.MapError
		if _, err := m.Map(read.Record{Object: obj}); !errors.As(err, &me) || me.Field != field {
			t.Errorf("Map(%v): %v, want a *MapError on %s", obj, err, field)
		}
	}
}
