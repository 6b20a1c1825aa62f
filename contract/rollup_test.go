package contract_test

import (
	"strings"
	"testing"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

const rollupSourceProto = `syntax = "proto3";
package sales.v1;
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";
message Money { string currency = 1; int64 micros = 2; }
message Line { string sku = 1; int32 qty = 2; }
message Sold {
  option (hem.options.v1.event) = {partition_field: "at"};
  string store = 1;
  Money total = 2;
  repeated Line lines = 3;
  google.protobuf.Timestamp at = 4;
  string note = 5;
  double weight = 6;
  bool gift = 7;
}
`

// rollupOf compiles a rollup message named Daily with the given options and
// fields beside the source event Sold.
func rollupOf(t *testing.T, options, fields string) (*contract.Rollup, *contract.Table, error) {
	t.Helper()
	src := `syntax = "proto3";
package sales.v1;
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";
message Daily {
  option (hem.options.v1.rollup) = {` + options + `};
` + fields + `
}
`
	s, err := contract.CompileSources(t.Context(), map[string]string{"sales/v1/sold.proto": rollupSourceProto, "sales/v1/daily.proto": src})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := s.Message("sales.v1.Daily")
	sold, _ := s.Message("sales.v1.Sold")
	table, err := contract.MapTable(sold)
	if err != nil {
		t.Fatal(err)
	}
	r, err := contract.ParseRollup(md)
	return r, table, err
}

const goodOptions = `source: "sales.v1.Sold" grain: GRAIN_DAY time_column: "at" allowed_lateness_hours: 48 retention_days: 30`

const goodFields = `
  google.protobuf.Timestamp day = 1 [(hem.options.v1.field).rollup.bucket = true];
  string store = 2 [(hem.options.v1.field).rollup.dimension = "store"];
  string currency = 3 [(hem.options.v1.field).rollup.dimension = "total.currency"];
  int64 sales = 4 [(hem.options.v1.field).rollup.aggregate = AGGREGATE_COUNT];
  int64 micros = 5 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_SUM of: "total.micros"}];
  int64 notes = 6 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_APPROX_COUNT_DISTINCT of: "note"}];
  double avg_weight = 7 [(hem.options.v1.field).rollup.sql = "AVG(weight)"];
`

func TestParseRollup(t *testing.T) {
	t.Parallel()
	r, source, err := rollupOf(t, goodOptions, goodFields)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Bind(source); err != nil {
		t.Fatal(err)
	}
	if r.Source != "sales.v1.Sold" || r.Grain != optionsv1.Grain_GRAIN_DAY || r.TimeColumn != "at" || r.Bucket != "day" || r.AllowedLateness.Hours() != 48 {
		t.Errorf("rollup = %+v", r)
	}
	if len(r.Dimensions) != 2 || r.Dimensions[1].Source != "total.currency" || len(r.Measures) != 4 || r.Measures[3].SQL != "AVG(weight)" {
		t.Errorf("dimensions %+v, measures %+v", r.Dimensions, r.Measures)
	}
	tab := r.Table
	if tab.Name != "sales_v1_daily" || !tab.Rollup || tab.PartitionColumn != "day" || tab.PartitionExpirationDays != 30 || len(tab.Columns) != 7 {
		t.Errorf("table = %+v", tab)
	}
	if _, ok := contract.Lookup(tab.Columns, contract.ColEventID); ok {
		t.Error("a rollup table has no metadata columns")
	}
}

// Each broken declaration is refused with the rule, the field's path and a
// sentence saying what is wrong.
func TestRollupErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, options, fields string
		bind                  bool // the error comes from Bind, not ParseRollup
		path, want            string
	}{
		{"no source", `grain: GRAIN_DAY`, goodFields, false, "sales.v1.Daily", "names no source"},
		{"no grain", `source: "sales.v1.Sold"`, goodFields, false, "sales.v1.Daily", "grain must be"},
		{"no bucket", goodOptions, `int64 n = 1 [(hem.options.v1.field).rollup.aggregate = AGGREGATE_COUNT];`, false, "sales.v1.Daily", "no bucket"},
		{"bucket not timestamp", goodOptions, `int64 day = 1 [(hem.options.v1.field).rollup.bucket = true];
			int64 n = 2 [(hem.options.v1.field).rollup.aggregate = AGGREGATE_COUNT];`, false, "sales.v1.Daily.day", "must be a google.protobuf.Timestamp"},
		{"no role", goodOptions, goodFields + `string spare = 9;`, false, "sales.v1.Daily.spare", "bucket, a dimension or a measure"},
		{"two roles", goodOptions, goodFields + `string both = 9 [(hem.options.v1.field).rollup = {dimension: "store" aggregate: AGGREGATE_COUNT}];`, false, "sales.v1.Daily.both", "more than one role"},
		{"empty sql", goodOptions, goodFields + `int64 e = 9 [(hem.options.v1.field).rollup.sql = "  "];`, false, "sales.v1.Daily.e", "sql escape hatch is empty"},
		{"count with of", goodOptions, goodFields + `int64 c = 9 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_COUNT of: "store"}];`, false, "sales.v1.Daily.c", "leave `of` empty"},
		{"sum without of", goodOptions, goodFields + `int64 c = 9 [(hem.options.v1.field).rollup.aggregate = AGGREGATE_SUM];`, false, "sales.v1.Daily.c", "needs `of`"},
		{"repeated", goodOptions, goodFields + `repeated int64 c = 9 [(hem.options.v1.field).rollup.aggregate = AGGREGATE_COUNT];`, false, "sales.v1.Daily.c", "singular"},
		{"unknown column", goodOptions, goodFields + `string region = 9 [(hem.options.v1.field).rollup.dimension = "region"];`, true, "sales.v1.Daily.region", `"region" is not a column of the source table`},
		{"through repeated", goodOptions, goodFields + `int64 q = 9 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_SUM of: "lines.qty"}];`, true, "sales.v1.Daily.q", `"lines" is repeated`},
		{"sum of string", goodOptions, goodFields + `int64 q = 9 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_SUM of: "store"}];`, true, "sales.v1.Daily.q", "sum needs a numeric column"},
		{"wrong type", goodOptions, goodFields + `int64 w = 9 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_MAX of: "weight"}];`, true, "sales.v1.Daily.w", "give the field that type"},
		{"time column", `source: "sales.v1.Sold" grain: GRAIN_HOUR time_column: "store"`, goodFields, true, "sales.v1.Daily", "must be a TIMESTAMP column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, source, err := rollupOf(t, tc.options, tc.fields)
			if tc.bind {
				if err != nil {
					t.Fatalf("ParseRollup: %v", err)
				}
				err = r.Bind(source)
			}
			mes, ok := contract.AsMappingErrors(err)
			if !ok {
				t.Fatalf("err = %v, want MappingErrors", err)
			}
			for _, me := range mes {
				if me.Path == tc.path && strings.Contains(me.Message, tc.want) && strings.HasPrefix(me.Rule, "EV-R0") {
					return
				}
			}
			t.Errorf("no error at %s saying %q: %v", tc.path, tc.want, err)
		})
	}
}

// The sample rollups compile and fit their sources.
func TestSampleRollups(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileDir(t.Context(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	rollups, err := src.RollupSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if len(rollups) < 2 {
		t.Fatalf("%d sample rollups, want 2", len(rollups))
	}
	for _, s := range rollups {
		r, err := s.Rollup()
		if err != nil {
			t.Fatal(err)
		}
		source, err := src.Schema(r.Source)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := contract.MapTable(source.Descriptor())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Bind(tab); err != nil {
			t.Errorf("%s: %v", s.Subject, err)
		}
	}
	events, _ := src.Schemas()
	for _, e := range events {
		if e.IsRollup() {
			t.Errorf("Schemas lists rollup %s", e.Subject)
		}
	}
}
