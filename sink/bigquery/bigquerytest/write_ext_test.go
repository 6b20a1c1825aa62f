package bigquerytest_test

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

const allTypesProto = `
syntax = "proto2";
package hem.test;
message Row {
  required string s = 1;
  optional int64 i = 2;
  optional double f = 3;
  optional bool b = 4;
  optional bytes by = 5;
  optional int64 ts = 6;
  optional int32 d = 7;
  optional string n = 8;
  optional bytes bn = 9;
  optional string j = 10;
  optional string iv = 11;
  optional Rec rec = 12;
  repeated string tags = 13;
  repeated Item recs = 14;
  optional Color enum_s = 15;
  optional Color enum_i = 16;
  optional int64 unset = 17;
  message Rec { optional string a = 1; optional int64 b = 2; }
  message Item { optional int64 x = 1; }
  enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
}`

var allTypesSchema = bigquery.Schema{
	{Name: "s", Type: bigquery.StringFieldType, Required: true},
	{Name: "i", Type: bigquery.IntegerFieldType},
	{Name: "f", Type: bigquery.FloatFieldType},
	{Name: "b", Type: bigquery.BooleanFieldType},
	{Name: "by", Type: bigquery.BytesFieldType},
	{Name: "Ts", Type: bigquery.TimestampFieldType}, // proto field ts: names match case-insensitively
	{Name: "d", Type: bigquery.DateFieldType},
	{Name: "n", Type: bigquery.NumericFieldType},
	{Name: "bn", Type: bigquery.BigNumericFieldType},
	{Name: "j", Type: bigquery.JSONFieldType},
	{Name: "iv", Type: bigquery.IntervalFieldType},
	{Name: "rec", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{
		{Name: "a", Type: bigquery.StringFieldType},
		{Name: "b", Type: bigquery.IntegerFieldType},
	}},
	{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
	{Name: "recs", Type: bigquery.RecordFieldType, Repeated: true, Schema: bigquery.Schema{
		{Name: "x", Type: bigquery.IntegerFieldType},
	}},
	{Name: "enum_s", Type: bigquery.StringFieldType},
	{Name: "enum_i", Type: bigquery.IntegerFieldType},
	{Name: "unset", Type: bigquery.IntegerFieldType},
	{Name: "absent", Type: bigquery.StringFieldType},
	{Name: "absent_list", Type: bigquery.StringFieldType, Repeated: true},
}

// bignumericBytes is the Storage Write API's BIGNUMERIC encoding of x:
// x*10^38 as little-endian two's complement.
func bignumericBytes(x string) string {
	r, _ := new(big.Rat).SetString(x)
	n := r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil))).Num()
	size := n.BitLen()/8 + 1
	if n.Sign() < 0 {
		n.Add(n, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	le := make([]byte, size)
	for i, c := range n.FillBytes(make([]byte, size)) {
		le[size-1-i] = c
	}
	return base64.StdEncoding.EncodeToString(le)
}

func TestAppendRowsRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTable(t, "all", allTypesSchema)
	md := messageDescriptor(t, allTypesProto)
	w := e.mustWriter(t, "all", md)

	full := fmt.Sprintf(`{"s":"a","i":"-7","f":1.5,"b":true,"by":"AQI=","ts":"1700000000123456","d":19000,
		"n":"12.3400","bn":%q,"j":"{\"k\":[1,2]}","iv":"1-2 3 4:5:6.5","rec":{"a":"x"},
		"tags":["t1","t2"],"recs":[{"x":"1"},{"x":"2"}],"enum_s":"RED","enum_i":"RED"}`, bignumericBytes("-1.5"))
	resp, err := w.append(t, encode(t, md, full, `{"s":"b"}`))
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if resp.GetAppendResult() == nil || resp.GetAppendResult().GetOffset() != nil {
		t.Errorf("append result = %v, want one without offset (default stream)", resp.GetAppendResult())
	}

	want := []map[string]any{{
		"s": "a", "i": int64(-7), "f": 1.5, "b": true, "by": []byte{1, 2},
		"Ts": time.UnixMicro(1700000000123456).UTC(), "d": time.Date(2022, 1, 8, 0, 0, 0, 0, time.UTC),
		"n": "12.34", "bn": "-1.5", "j": `{"k":[1,2]}`, "iv": "1-2 3 4:5:6.5",
		"rec":    map[string]any{"a": "x", "b": nil},
		"tags":   []any{"t1", "t2"},
		"recs":   []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(2)}},
		"enum_s": "RED", "enum_i": int64(1),
		"unset": nil, "absent": nil, "absent_list": []any{},
	}, {
		"s": "b", "i": nil, "f": nil, "b": nil, "by": nil, "Ts": nil, "d": nil, "n": nil, "bn": nil,
		"j": nil, "iv": nil, "rec": nil, "tags": []any{}, "recs": []any{}, "enum_s": nil, "enum_i": nil,
		"unset": nil, "absent": nil, "absent_list": []any{},
	}}
	if got := e.rows(t, "all"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n got %#v\nwant %#v", got, want)
	}
}

// TestAppendRowsProto3 checks the defaults adapt.NormalizeDescriptor adds for
// proto3 implicit presence: an unset scalar reads as its zero value.
func TestAppendRowsProto3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTable(t, "p3", bigquery.Schema{
		{Name: "name", Type: bigquery.StringFieldType},
		{Name: "count", Type: bigquery.IntegerFieldType},
		{Name: "maybe", Type: bigquery.IntegerFieldType},
	})
	md := messageDescriptor(t, `syntax = "proto3"; message Row { string name = 1; int64 count = 2; optional int64 maybe = 3; }`)
	if _, err := e.mustWriter(t, "p3", md).append(t, encode(t, md, `{"name":"x"}`)); err != nil {
		t.Fatalf("append: %v", err)
	}
	want := []map[string]any{{"name": "x", "count": int64(0), "maybe": nil}}
	if got := e.rows(t, "p3"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %#v, want %#v", got, want)
	}
}

func TestWriterSchemaRejected(t *testing.T) {
	t.Parallel()
	schema := sampleSchema()
	tests := []struct {
		name  string
		proto string
		want  []string // substrings of the error message
	}{
		{"unknown column", `message Row { required string id = 1; optional string color = 2; }`,
			[]string{"extra fields", "'color'", "projects/proj/datasets/ds/tables/t"}},
		{"unknown nested column", `message Row { required string id = 1; optional R rec = 2; message R { optional string a = 1; optional string b = 2; } }`,
			[]string{"extra fields", "'rec.b'"}},
		{"wrong type", `message Row { required string id = 1; optional string n = 2; }`,
			[]string{"n", "string", "INTEGER"}},
		{"unsigned 64 into INT64", `message Row { required string id = 1; optional uint64 n = 2; }`,
			[]string{"n", "uint64", "INTEGER"}},
		{"message for scalar", `message Row { required string id = 1; optional R n = 2; message R { optional int64 v = 1; } }`,
			[]string{"n", "message", "INTEGER"}},
		{"scalar for record", `message Row { required string id = 1; optional string rec = 2; }`,
			[]string{"rec", "string", "RECORD"}},
		{"repeated into nullable", `message Row { required string id = 1; repeated int64 n = 2; }`,
			[]string{"n", "repeated", "NULLABLE"}},
		{"single into repeated", `message Row { required string id = 1; optional string tags = 2; }`,
			[]string{"tags", "REPEATED"}},
		{"required column missing", `message Row { optional int64 n = 2; }`,
			[]string{"REQUIRED", "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.createTable(t, "t", schema)
			md := messageDescriptor(t, `syntax = "proto2"; `+tt.proto)
			_, err := e.mustWriter(t, "t", md).append(t, encode(t, md, `{}`))
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("append error = %v, want INVALID_ARGUMENT", err)
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if rows := e.rows(t, "t"); len(rows) != 0 {
				t.Errorf("%d rows stored, want none", len(rows))
			}
		})
	}
}

func TestRowErrorFailsRequest(t *testing.T) {
	t.Parallel()
	const src = `syntax = "proto2"; message Row { optional string id = 1; optional string j = 2; optional int64 ts = 3; optional string n = 4; required int64 p = 5; }`
	schema := bigquery.Schema{
		{Name: "id", Type: bigquery.StringFieldType, Required: true},
		{Name: "j", Type: bigquery.JSONFieldType},
		{Name: "ts", Type: bigquery.TimestampFieldType},
		{Name: "n", Type: bigquery.NumericFieldType},
		{Name: "p", Type: bigquery.IntegerFieldType},
	}
	tests := []struct {
		name string
		bad  func(*testing.T, []byte) []byte // the second row of three
		row  string
		want string
	}{
		{name: "invalid JSON", row: `{"id":"x","j":"{nope","p":"1"}`, want: "JSON"},
		{name: "missing required value", row: `{"j":"{}","p":"1"}`, want: "id"},
		{name: "missing proto2 required field", row: `{"id":"x"}`, want: "p"},
		{name: "timestamp out of range", row: `{"id":"x","ts":"253402300800000000","p":"1"}`, want: "ts"},
		{name: "numeric out of range", row: `{"id":"x","n":"1e30","p":"1"}`, want: "n"},
		{name: "undecodable bytes", row: `{"id":"x","p":"1"}`, bad: func(*testing.T, []byte) []byte { return []byte{0xff, 0xff, 0xff} }, want: "parse"},
		{name: "unknown fields", row: `{"id":"x","p":"1"}`, bad: func(_ *testing.T, b []byte) []byte { return append(b, 0xb8, 0x01, 0x01) /* field 23 varint */ }, want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.createTable(t, "t", schema)
			md := messageDescriptor(t, src)
			rows := encode(t, md, `{"id":"a","p":"1"}`, tt.row, `{"id":"c","p":"1"}`)
			if tt.bad != nil {
				rows[1] = tt.bad(t, rows[1])
			}
			resp, err := e.mustWriter(t, "t", md).append(t, rows)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("append error = %v, want INVALID_ARGUMENT", err)
			}
			errs := resp.GetRowErrors()
			if len(errs) != 1 || errs[0].GetIndex() != 1 || errs[0].GetCode() != storagepb.RowError_FIELDS_ERROR {
				t.Fatalf("row errors = %v, want one FIELDS_ERROR at index 1", errs)
			}
			t.Log(err, errs[0].GetMessage())
			if !strings.Contains(errs[0].GetMessage(), tt.want) {
				t.Errorf("row error %q does not mention %q", errs[0].GetMessage(), tt.want)
			}
			if rows := e.rows(t, "t"); len(rows) != 0 {
				t.Errorf("%d rows stored, want none (all-or-nothing)", len(rows))
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, bigquerytest.WithMaxRequestBytes(4096))
	e.createTable(t, "t", bigquery.Schema{{Name: "s", Type: bigquery.StringFieldType}})
	md := messageDescriptor(t, `syntax = "proto2"; message Row { optional string s = 1; }`)
	w := e.mustWriter(t, "t", md)
	_, err := w.append(t, encode(t, md, fmt.Sprintf(`{"s":%q}`, strings.Repeat("x", 5000))))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("append error = %v, want INVALID_ARGUMENT naming the 4096 byte limit", err)
	}
	// The writer reconnects and goes on.
	if _, err := w.append(t, encode(t, md, `{"s":"small"}`)); err != nil {
		t.Fatalf("append after the failure: %v", err)
	}
	if rows := e.rows(t, "t"); len(rows) != 1 {
		t.Errorf("%d rows stored, want 1", len(rows))
	}
}

func TestUnknownTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	md := messageDescriptor(t, `syntax = "proto2"; message Row { optional string s = 1; }`)
	if _, err := e.writer(t, "missing", md); status.Code(err) != codes.NotFound {
		t.Errorf("NewManagedStream error = %v, want NOT_FOUND", err)
	}
	if _, err := e.srv.Rows(projectID, datasetID, "missing"); err == nil {
		t.Error("Rows of a missing table: no error")
	}
}

func TestSchemaPropagationDelay(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, bigquerytest.WithClock(clk.now), bigquerytest.WithSchemaPropagationDelay(10*time.Minute))
	tb := e.createTable(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.StringFieldType}})
	oldMD := messageDescriptor(t, `syntax = "proto2"; message Row { optional string id = 1; }`)
	newMD := messageDescriptor(t, `syntax = "proto2"; message Row { optional string id = 1; optional string note = 2; }`)
	oldW := e.mustWriter(t, "t", oldMD)
	if _, err := oldW.append(t, encode(t, oldMD, `{"id":"1"}`)); err != nil {
		t.Fatalf("old writer before patch: %v", err)
	}

	md, err := tb.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	schema := append(md.Schema, &bigquery.FieldSchema{Name: "note", Type: bigquery.StringFieldType})
	if _, err := tb.Update(t.Context(), bigquery.TableMetadataToUpdate{Schema: schema}, md.ETag); err != nil {
		t.Fatalf("patch: %v", err)
	}

	clk.advance(9 * time.Minute)
	newW := e.mustWriter(t, "t", newMD)
	if _, err := newW.append(t, encode(t, newMD, `{"id":"2","note":"early"}`)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "note") {
		t.Fatalf("new writer before propagation: error = %v, want INVALID_ARGUMENT naming note", err)
	}
	if _, err := oldW.append(t, encode(t, oldMD, `{"id":"3"}`)); err != nil {
		t.Fatalf("old writer during propagation: %v", err)
	}

	clk.advance(time.Minute)
	if _, err := newW.append(t, encode(t, newMD, `{"id":"4","note":"late"}`)); err != nil {
		t.Fatalf("new writer after propagation: %v", err)
	}
	resp, err := oldW.append(t, encode(t, oldMD, `{"id":"5"}`))
	if err != nil {
		t.Fatalf("old writer after propagation: %v", err)
	}
	if got := len(resp.GetUpdatedSchema().GetFields()); got != 2 {
		t.Errorf("old writer's updated_schema has %d fields, want the new 2", got)
	}

	want := []map[string]any{
		{"id": "1", "note": nil}, {"id": "3", "note": nil}, {"id": "4", "note": "late"}, {"id": "5", "note": nil},
	}
	if got := e.rows(t, "t"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

func TestGetWriteStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTable(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.StringFieldType, Required: true}})
	name := managedwriter.TableParentFromParts(projectID, datasetID, "t") + "/streams/_default"
	ws, err := e.mw.GetWriteStream(t.Context(), &storagepb.GetWriteStreamRequest{Name: name, View: storagepb.WriteStreamView_FULL})
	if err != nil {
		t.Fatal(err)
	}
	f := ws.GetTableSchema().GetFields()
	if ws.GetName() != name || ws.GetType() != storagepb.WriteStream_COMMITTED || ws.GetLocation() != "US" ||
		len(f) != 1 || f[0].GetType() != storagepb.TableFieldSchema_STRING || f[0].GetMode() != storagepb.TableFieldSchema_REQUIRED {
		t.Errorf("write stream = %v", ws)
	}
}

// TestMultiplexedConcurrentWriters writes to two tables over multiplexed
// connections from several goroutines.
func TestMultiplexedConcurrentWriters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mw, err := managedwriter.NewClient(t.Context(), projectID, append(e.srv.WriteClientOptions(), managedwriter.WithMultiplexing())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mw.Close(); err != nil {
			t.Errorf("close the write client: %v", err)
		}
	})
	e.mw = mw
	md := messageDescriptor(t, `syntax = "proto2"; message Row { optional int64 n = 1; }`)
	tables := []string{"a", "b"}
	for _, tb := range tables {
		e.createTable(t, tb, bigquery.Schema{{Name: "n", Type: bigquery.IntegerFieldType}})
	}
	const perWriter = 20
	var wg sync.WaitGroup
	for i := range 4 {
		w := e.mustWriter(t, tables[i%2], md)
		wg.Go(func() {
			for j := range perWriter {
				if _, err := w.append(t, encode(t, md, fmt.Sprintf(`{"n":"%d"}`, j))); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, tb := range tables {
		if got := len(e.rows(t, tb)); got != 2*perWriter {
			t.Errorf("table %s has %d rows, want %d", tb, got, 2*perWriter)
		}
	}
}

func TestAppendToDroppedTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tb := e.createTable(t, "t", bigquery.Schema{{Name: "s", Type: bigquery.StringFieldType}})
	md := messageDescriptor(t, `syntax = "proto2"; message Row { optional string s = 1; }`)
	w := e.mustWriter(t, "t", md)
	if err := tb.Delete(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.append(t, encode(t, md, `{"s":"x"}`)); status.Code(err) != codes.NotFound {
		t.Errorf("append to a dropped table: %v, want NOT_FOUND", err)
	}
}

func TestWriteToView(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.ds.Table("v").Create(t.Context(), &bigquery.TableMetadata{ViewQuery: "SELECT 1 AS s"}); err != nil {
		t.Fatal(err)
	}
	md := messageDescriptor(t, `syntax = "proto2"; message Row { optional string s = 1; }`)
	if _, err := e.writer(t, "v", md); status.Code(err) != codes.InvalidArgument {
		t.Errorf("writer for a view: %v, want INVALID_ARGUMENT", err)
	}
}
