package mapping_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

// TestColumnRead maps one column to one field: the text is converted by the
// field's kind, strictly, and a cell that does not fit rejects the record
// with a message naming field, column and value.
func TestColumnRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field, in string
		want      string // prototext of All
		wantErr   string
	}{
		{field: "i32", in: "-42", want: "i32: -42"},
		{field: "i32", in: "2147483648", wantErr: `out of range for a 32-bit integer: "2147483648"`},
		{field: "i32", in: " 1", wantErr: `not a 32-bit integer: " 1"`},
		{field: "i32", in: "1.0", wantErr: "not a 32-bit integer"},
		{field: "i64", in: "-9223372036854775808", want: "i64: -9223372036854775808"},
		{field: "i64", in: "9223372036854775808", wantErr: "out of range"},
		{field: "s32", in: "-7", want: "s32: -7"},
		{field: "s64", in: "-7", want: "s64: -7"},
		{field: "sf32", in: "-7", want: "sf32: -7"},
		{field: "sf64", in: "-7", want: "sf64: -7"},
		{field: "u32", in: "4294967295", want: "u32: 4294967295"},
		{field: "u32", in: "4294967296", wantErr: "out of range"},
		{field: "u32", in: "-1", wantErr: "not an unsigned 32-bit integer"},
		{field: "u64", in: "18446744073709551615", want: "u64: 18446744073709551615"},
		{field: "f32", in: "7", want: "f32: 7"},
		{field: "f64", in: "7", want: "f64: 7"},
		{field: "fl", in: "1.5", want: "fl: 1.5"},
		{field: "fl", in: "1e39", wantErr: "out of range for a number"},
		{field: "db", in: "-2.5e-3", want: "db: -0.0025"},
		{field: "db", in: "NaN", wantErr: "not a number"},
		{field: "db", in: "0x1p3", wantErr: "not a number"},
		{field: "db", in: "1,5", wantErr: `not a number (digits, '.', an exponent): "1,5"`},
		{field: "bo", in: "true", want: "bo: true"},
		{field: "bo", in: "1", want: "bo: true"},
		{field: "bo", in: "FALSE", want: ""},
		{field: "bo", in: "0", want: ""},
		{field: "bo", in: "yes", wantErr: "not a bool"},
		{field: "st", in: "Grüne Äpfel", want: `st: "Grüne Äpfel"`},
		{field: "st", in: "\xff", wantErr: "not valid UTF-8"},
		{field: "by", in: "raw", want: `by: "raw"`},
		{field: "color", in: "COLOR_DARK_BLUE", want: "color: COLOR_DARK_BLUE"},
		{field: "color", in: "DARK_BLUE", want: "color: COLOR_DARK_BLUE"},
		{field: "color", in: "red", want: "color: COLOR_RED"},
		{field: "color", in: "2", want: "color: COLOR_DARK_BLUE"},
		{field: "color", in: "7", want: "color: 7"},
		{field: "color", in: "GREEN", wantErr: `no value of enum maptest.v1.Color is named so: "GREEN"`},
		{field: "ts", in: "2026-12-07T10:00:00.5+01:00", want: "ts: {seconds: 1796634000 nanos: 500000000}"},
		{field: "ts", in: "2026-12-07", wantErr: "not an RFC 3339 timestamp"},
		{field: "opt", in: "0", want: "opt: 0"},
		{field: "opt", in: "", want: ""},
		{field: "wi32", in: "0", want: "wi32: {}"},
		{field: "wi32", in: "5", want: "wi32: {value: 5}"},
		{field: "wst", in: "x", want: `wst: {value: "x"}`},
		{field: "inner.a", in: "x", want: `inner: {a: "x"}`},
		{field: "inner.deep.c", in: "3", want: "inner: {deep: {c: 3}}"},
		{field: "inner.b", in: "0", want: "inner: {}"},
		{field: "i64", in: "", want: ""},
		{field: "ts", in: "", want: ""},
	}
	md := all(t)
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.in, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, csvSource([]string{"c"}, map[string]string{tt.field: "c"}), md)
			got, err := m.Map(csvRecord([]string{"c"}, tt.in))
			if tt.wantErr != "" {
				var me *mapping.MapError
				if !errors.As(err, &me) {
					t.Fatalf("Map: %v, want a *MapError", err)
				}
				if me.Field != tt.field || me.Column != "c" || !strings.Contains(me.Message, tt.wantErr) {
					t.Fatalf("Map: %+v, want field %s, column c, message with %q", me, tt.field, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if msg, want := decode(t, md, got.Payload), text(t, md, tt.want); !proto.Equal(msg, want) {
				t.Fatalf("got %v, want %v", prototext.Format(msg), prototext.Format(want))
			}
		})
	}
}

// TestExpression maps CEL expressions: their results are converted to the
// field (range-checked), lists set repeated fields, optional.none() and
// null leave a field unset.
func TestExpression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field, expr string
		in          string // the value of column c
		want        string
		wantErr     string
	}{
		{field: "i32", expr: "int(row.c) * 2", in: "21", want: "i32: 42"},
		{field: "i32", expr: "int(row.c) * 2", in: "2000000000", wantErr: "4000000000 is out of range for int32"},
		{field: "i32", expr: "int(row.c)", in: "x", wantErr: "type conversion error"},
		{field: "u32", expr: "int(row.c)", in: "-1", wantErr: "-1 is out of range for uint32"},
		{field: "u32", expr: "uint(row.c)", in: "4294967296", wantErr: "out of range for uint32"},
		{field: "u64", expr: "uint(row.c)", in: "5", want: "u64: 5"},
		{field: "f64", expr: "int(row.c)", in: "5", want: "f64: 5"},
		{field: "db", expr: "double(row.c) / 4.0", in: "1", want: "db: 0.25"},
		{field: "db", expr: "int(row.c)", in: "3", want: "db: 3"},
		{field: "fl", expr: "double(row.c)", in: "1e300", wantErr: "out of range for float"},
		{field: "bo", expr: `row.c == "J"`, in: "J", want: "bo: true"},
		{field: "st", expr: `row.c.trim().upperAscii() + "!"`, in: " a ", want: `st: "A!"`},
		{field: "by", expr: `b"\x00" + bytes(row.c)`, in: "a", want: `by: "\x00a"`},
		{field: "by", expr: `row.c`, in: "a", want: `by: "a"`},
		{field: "color", expr: `row.c`, in: "dark_blue", want: "color: COLOR_DARK_BLUE"},
		{field: "color", expr: `int(row.c) + 1`, in: "0", want: "color: COLOR_RED"},
		{field: "color", expr: `int(row.c)`, in: "3000000000", wantErr: "out of range"},
		{field: "ts", expr: `timestamp(row.c + "T00:00:00Z")`, in: "2026-12-07", want: "ts: {seconds: 1796601600}"},
		{field: "ts", expr: `timestamp(row.c + "T00:00:00Z")`, in: "7.12.2026", wantErr: "timestamp"},
		{field: "tags", expr: `row.c.split("|")`, in: "a|b", want: `tags: ["a", "b"]`},
		{field: "nums", expr: `row.c.split("|").map(x, int(x))`, in: "1|-2", want: `nums: [1, -2]`},
		{field: "nums", expr: `[]`, in: "", want: ``},
		{field: "dbs", expr: `[1.5, 2.0]`, in: "", want: `dbs: [1.5, 2]`},
		{field: "colors", expr: `row.c.split(",")`, in: "RED,2", want: `colors: [COLOR_RED, COLOR_DARK_BLUE]`},
		{field: "colors", expr: `row.c.split(",")`, in: "RED,PINK", wantErr: `element 1: no value of enum maptest.v1.Color is named so: "PINK"`},
		{field: "times", expr: `[timestamp(row.c)]`, in: "2026-12-07T00:00:00Z", want: `times: [{seconds: 1796601600}]`},
		{field: "opt", expr: `row.c == "" ? optional.none() : optional.of(int(row.c))`, in: "", want: ""},
		{field: "opt", expr: `row.c == "" ? optional.none() : optional.of(int(row.c))`, in: "0", want: "opt: 0"},
		{field: "wi32", expr: `row.c == "" ? dyn(null) : dyn(int(row.c))`, in: "", want: ""},
		{field: "wi32", expr: `row.c == "" ? dyn(null) : dyn(int(row.c))`, in: "4", want: "wi32: {value: 4}"},
		{field: "st", expr: `row.?c.orValue("none")`, in: "v", want: `st: "v"`},
		{field: "st", expr: `row["c"]`, in: "v", want: `st: "v"`},
		{field: "st", expr: `row[row.c]`, in: "c", want: `st: "c"`},
		{field: "st", expr: `row[row.c]`, in: "d", wantErr: "no such key: d"},
		{field: "i64", expr: `row.size()`, in: "", want: `i64: 1`},
		{field: "st", expr: `"a" in row ? "yes" : "no"`, in: "", want: `st: "no"`},
	}
	md := all(t)
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.expr+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, csvSource([]string{"c"}, map[string]string{tt.field: tt.expr}), md)
			got, err := m.Map(csvRecord([]string{"c"}, tt.in))
			if tt.wantErr != "" {
				var me *mapping.MapError
				if !errors.As(err, &me) {
					t.Fatalf("Map: %v, want a *MapError", err)
				}
				if me.Field != tt.field || !strings.Contains(me.Message, tt.wantErr) {
					t.Fatalf("Map: %+v, want field %s, message with %q", me, tt.field, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if msg, want := decode(t, md, got.Payload), text(t, md, tt.want); !proto.Equal(msg, want) {
				t.Fatalf("got %v, want %v", prototext.Format(msg), prototext.Format(want))
			}
		})
	}
}

// TestFunctions covers the helpers: decimal, scaled and date.
func TestFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field, expr, in string
		want            string
		wantErr         string
	}{
		{field: "db", expr: `decimal(row.c, ",")`, in: "1.234,5", want: "db: 1234.5"},
		{field: "db", expr: `decimal(row.c, ",")`, in: "-0,25", want: "db: -0.25"},
		{field: "db", expr: `decimal(row.c, ".")`, in: "1,234.5", want: "db: 1234.5"},
		{field: "db", expr: `decimal(row.c, ".")`, in: "1 234.5", want: "db: 1234.5"},
		{field: "db", expr: `decimal(row.c, ",")`, in: "1,2,3", wantErr: `decimal: not a decimal number: "1,2,3"`},
		{field: "db", expr: `decimal(row.c, ",")`, in: "", wantErr: "not a decimal number"},
		{field: "db", expr: `decimal(row.c, ",")`, in: "1e5", wantErr: "not a decimal number"},
		{field: "i64", expr: `scaled(row.c, 6, ",")`, in: "19,99", want: "i64: 19990000"},
		{field: "i64", expr: `scaled(row.c, 6)`, in: "19.99", want: "i64: 19990000"},
		{field: "i64", expr: `scaled(row.c, 2)`, in: "-1.005", want: "i64: -101"},
		{field: "i64", expr: `scaled(row.c, 2)`, in: "1.004", want: "i64: 100"},
		{field: "i64", expr: `scaled(row.c, 0)`, in: "7", want: "i64: 7"},
		{field: "i64", expr: `scaled(row.c, 3, ",")`, in: "1.000.000,5", want: "i64: 1000000500"},
		{field: "i64", expr: `scaled(row.c, 18)`, in: "10", wantErr: "out of range"},
		{field: "i64", expr: `scaled(row.c, 19)`, in: "1", wantErr: "scale 19 is not within 0..18"},
		{field: "ts", expr: `date(row.c, "DD.MM.YYYY", "Europe/Berlin")`, in: "07.12.2026", want: "ts: {seconds: 1796598000}"},
		{field: "ts", expr: `date(row.c, "D.M.YYYY HH:mm")`, in: "7.6.2026 14:30", want: "ts: {seconds: 1780842600}"},
		{field: "ts", expr: `date(row.c, "YYYY-MM-DD HH:mm:ss.SSS", "Europe/Berlin")`, in: "2026-06-07 14:30:00.25", want: "ts: {seconds: 1780835400 nanos: 250000000}"},
		{field: "ts", expr: `date(row.c, "DD.MM.YYYY")`, in: "31.02.2026", wantErr: `"31.02.2026" is not a valid date and time`},
		{field: "ts", expr: `date(row.c, "DD.MM.YYYY")`, in: "7.12.2026", wantErr: "does not match the layout"},
		{field: "ts", expr: `date(row.c, "DD.MM.YYYY")`, in: "07.12.2026 ", wantErr: "does not match the layout"},
		{field: "ts", expr: `date(row.c, "HH:mm DD/MM/YYYY", "America/New_York")`, in: "00:00 01/01/2027", want: "ts: {seconds: 1798779600}"},
	}
	md := all(t)
	for _, tt := range tests {
		t.Run(tt.expr+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, csvSource([]string{"c"}, map[string]string{tt.field: tt.expr}), md)
			got, err := m.Map(csvRecord([]string{"c"}, tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Map: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if msg, want := decode(t, md, got.Payload), text(t, md, tt.want); !proto.Equal(msg, want) {
				t.Fatalf("got %v, want %v", prototext.Format(msg), prototext.Format(want))
			}
		})
	}
}

var _ = read.Record{}
