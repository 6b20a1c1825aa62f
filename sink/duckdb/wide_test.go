package duckdb_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/contract"
)

// wideContract is an event with n described fields, and a version 2 that
// adds ten more.
func wideContract(t *testing.T, n int) (v1, v2 *contract.Schema) {
	t.Helper()
	compile := func(fields int, id int64, version int) *contract.Schema {
		var b strings.Builder
		b.WriteString("syntax = \"proto3\";\n\n// Wide events.\npackage wide.v1;\n\nimport \"hem/options/v1/options.proto\";\n\n")
		b.WriteString("// Wide is an event with many columns.\nmessage Wide {\n  option (hem.options.v1.event) = {};\n\n")
		for i := 1; i <= fields; i++ {
			fmt.Fprintf(&b, "  // Reading %d, in 'units'.\n  string f%d = %d;\n", i, i, i)
		}
		b.WriteString("}\n")
		src, err := contract.CompileSources(t.Context(), map[string]string{"wide/v1/wide.proto": b.String()})
		if err != nil {
			t.Fatal(err)
		}
		s, err := src.Schema("wide.v1.Wide")
		if err != nil {
			t.Fatal(err)
		}
		return s.WithIdentity(id, version, contract.Usable, time.Now())
	}
	return compile(n, 1, 1), compile(n+10, 2, 2)
}

// A contract with thousands of described columns is admitted, with every
// column's description, and so is a version that adds a few. It measures
// (see the log) but asserts no time: before the descriptions became rows,
// 10,000 columns took minutes.
func TestMigrateWideContractKeepsEveryDescription(t *testing.T) {
	t.Parallel()
	n := 9_980 // with ten more in version 2 and the metadata columns, BigQuery's 10,000
	if testing.Short() {
		n = 500
	}
	v1, v2 := wideContract(t, n)
	w := open(t)
	for _, s := range []*contract.Schema{v1, v2} {
		start := time.Now()
		if err := w.Migrate(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		t.Logf("version %d (%d columns): migrated in %v", s.Version, s.Descriptor().Fields().Len(), time.Since(start))
	}
	got := query(t, w, `select count(*), min(description), max(description) filter (where column_name = 'f`+fmt.Sprint(n+10)+`')
		from _column_descriptions where table_name = 'wide_v1_wide' and column_name like 'f%'`)[0]
	want := fmt.Sprint([]any{int64(n + 10), "Reading 1, in 'units'.", fmt.Sprintf("Reading %d, in 'units'.", n+10)})
	if fmt.Sprint(got) != want {
		t.Fatalf("described columns, a description, the last one = %v, want %v", got, want)
	}
	if got := query(t, w, `select comment from duckdb_tables() where table_name = 'wide_v1_wide'`); fmt.Sprint(got) != "[[Wide is an event with many columns.]]" {
		t.Fatalf("table description = %v", got)
	}
}

// Narrow tables keep their descriptions as DuckDB comments too, so
// duckdb_columns() shows them.
func TestMigrateNarrowTableCommentsColumns(t *testing.T) {
	t.Parallel()
	placed := contracts(t)["shop.orders.v1.OrderPlaced"]
	w := open(t)
	if err := w.Migrate(t.Context(), placed); err != nil {
		t.Fatal(err)
	}
	got := query(t, w, `select c.comment = d.description, count(*) from duckdb_columns() c
		join _column_descriptions d on d.table_name = c.table_name and d.column_name = c.column_name
		where c.table_name = 'shop_orders_v1_order_placed' group by 1`)
	if len(got) != 1 || got[0][0] != true || got[0][1].(int64) < 10 {
		t.Fatalf("comment equals description, columns = %v, want true for every described column", got)
	}
}
