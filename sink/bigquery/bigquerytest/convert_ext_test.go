package bigquerytest_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestValueConversions covers the proto-to-column conversions one value at
// a time: a want of type rowError expects the row to be refused.
func TestValueConversions(t *testing.T) {
	t.Parallel()
	type rowError string
	tests := []struct {
		col   bigquery.FieldType
		proto string
		value string // protojson
		want  any
	}{
		{bigquery.NumericFieldType, "string", `"1.0000000005"`, "1.000000001"},
		{bigquery.NumericFieldType, "string", `"-1.0000000005"`, "-1.000000001"},
		{bigquery.NumericFieldType, "string", `"1e3"`, "1000"},
		{bigquery.NumericFieldType, "string", `"abc"`, rowError("decimal")},
		{bigquery.NumericFieldType, "int64", `"42"`, "42"},
		{bigquery.NumericFieldType, "double", `0.25`, "0.25"},
		{bigquery.NumericFieldType, "bytes", `"AMqaOw=="`, "1"}, // 1e9 little-endian
		{bigquery.BigNumericFieldType, "string", `"0.00000000000000000000000000000000000001"`, "0.00000000000000000000000000000000000001"},
		{bigquery.TimestampFieldType, "string", `"2024-05-06T07:08:09.123456Z"`, time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)},
		{bigquery.TimestampFieldType, "string", `"2024-05-06 09:08:09+02:00"`, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
		{bigquery.TimestampFieldType, "string", `"yesterday"`, rowError("TIMESTAMP")},
		{bigquery.TimestampFieldType, "int64", `"-62135596800000001"`, rowError("range")},
		{bigquery.DateFieldType, "string", `"2024-02-29"`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{bigquery.DateFieldType, "string", `"2023-02-29"`, rowError("DATE")},
		{bigquery.DateFieldType, "int64", `"-1"`, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{bigquery.TimeFieldType, "string", `"12:34:56.5"`, "12:34:56.500000"},
		{bigquery.TimeFieldType, "int64", fmt.Sprintf(`"%d"`, int64(12)<<32|int64(34)<<26|int64(56)<<20|500000), "12:34:56.500000"},
		{bigquery.DateTimeFieldType, "string", `"2024-05-06 07:08:09"`, "2024-05-06T07:08:09"},
		{bigquery.DateTimeFieldType, "int64", fmt.Sprintf(`"%d"`, int64(2024)<<46|int64(5)<<42|int64(6)<<37|int64(7)<<32|int64(8)<<26|int64(9)<<20), "2024-05-06T07:08:09"},
		{bigquery.IntervalFieldType, "string", `"P1Y2M3DT4H5M6.5S"`, "1-2 3 4:5:6.5"},
		{bigquery.IntervalFieldType, "string", `"0-0 0 -1:30:0"`, "0-0 0 -1:30:0"},
		{bigquery.IntervalFieldType, "string", `"1 day"`, rowError("INTERVAL")},
		{bigquery.BooleanFieldType, "int32", `2`, true},
		{bigquery.IntegerFieldType, "uint32", `4294967295`, int64(4294967295)},
		{bigquery.FloatFieldType, "float", `0.5`, 0.5},
		{bigquery.JSONFieldType, "string", `"[1, {\"a\": null}]"`, `[1, {"a": null}]`},
		{bigquery.StringFieldType, "bytes", `"AA=="`, nil}, // refused by the schema check instead
	}
	e := newEnv(t)
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s from %s %s", tt.col, tt.proto, tt.value), func(t *testing.T) {
			t.Parallel()
			table := fmt.Sprintf("t%d", i)
			e.createTable(t, table, bigquery.Schema{{Name: "v", Type: tt.col}})
			md := messageDescriptor(t, fmt.Sprintf(`syntax = "proto2"; message Row { optional %s v = 1; }`, tt.proto))
			resp, err := e.mustWriter(t, table, md).append(t, encode(t, md, `{"v":`+tt.value+`}`))
			if tt.want == nil {
				if status.Code(err) != codes.InvalidArgument || len(resp.GetRowErrors()) != 0 {
					t.Fatalf("append: %v, want a schema error", err)
				}
				return
			}
			if want, ok := tt.want.(rowError); ok {
				errs := resp.GetRowErrors()
				if len(errs) != 1 || !strings.Contains(errs[0].GetMessage(), string(want)) {
					t.Fatalf("append: %v, row errors %v, want one mentioning %q", err, errs, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if got := e.rows(t, table)[0]["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v = %#v, want %#v", got, tt.want)
			}
		})
	}
}
