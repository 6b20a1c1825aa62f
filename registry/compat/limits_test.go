package compat_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/compat"
)

// Every BigQuery limit on what a contract names is refused at admission
// with its rule id: a contract the registry admits is one BigQuery creates
// a table for. Limits from BigQuery's documentation: table names up to
// 1,024 UTF-8 bytes of letters, marks, numbers, connectors, dashes and
// spaces; columns up to 300 characters, 10,000 per table; 4 clustering
// fields; column descriptions up to 1,024 characters.
func TestBigQueryLimits(t *testing.T) {
	t.Parallel()
	table := func(name string) []string {
		return []string{`entity_key_field: "order_id"`, fmt.Sprintf(`entity_key_field: "order_id", table: %q`, name)}
	}
	unkeyedTable := func(name string) []string { // the same event without an entity key
		return []string{`entity_key_field: "order_id"`, fmt.Sprintf(`table: %q`, name)}
	}
	many := func(n int) string { // a field of n columns, as n string fields of a nested message
		var b strings.Builder
		b.WriteString("message Wide {\n")
		for i := range n {
			fmt.Fprintf(&b, "  string c%d = %d;\n", i, i+1)
		}
		b.WriteString("}\n")
		return b.String()
	}
	const ok = ""
	cases := []struct {
		name  string
		src   string
		edits []string
		rule  string // "" when the contract must pass
	}{
		{"a table option of 1,000,000 characters", base, table(strings.Repeat("t", 1_000_000)), "EV-L10"},
		{"a table option of 1,019 bytes (1,024 with _dedup is 1,025)", base, unkeyedTable(strings.Repeat("t", 1019)), "EV-L10"},
		{"a table option of 1,018 bytes", base, unkeyedTable(strings.Repeat("t", 1018)), ok},
		{"a table option of 1,018 bytes with an entity key (1,024 with _latest is 1,025)", base, table(strings.Repeat("t", 1018)), "EV-L10"},
		{"a table option of 1,017 bytes with an entity key", base, table(strings.Repeat("t", 1017)), ok},
		{"a table option of 340 three-byte letters (1,020 bytes)", base, table(strings.Repeat("ग", 340)), "EV-L10"},
		{"a table option with a dot", base, table("orders.created"), "EV-L10"},
		{"a table option with a slash", base, table("orders/created"), "EV-L10"},
		{"a table option with letters, marks, digits, dashes and spaces", base, table("commandes clients-01 ग्राहक_é"), ok},
		{"five clustering fields", base, []string{`entity_key_field: "order_id"`, `entity_key_field: "order_id", clustering_fields: ["order_id", "tag", "n", "note", "coupon"]`}, "EV-L10"},
		{"four clustering fields", base, []string{`entity_key_field: "order_id"`, `entity_key_field: "order_id", clustering_fields: ["order_id", "tag", "n", "note"]`}, ok},
		{"a column name of 301 characters", base, []string{"string note = 12;", "string note = 12;\n  string " + strings.Repeat("n", 301) + " = 13;"}, "EV-L06"},
		{"a column name of 300 characters", base, []string{"string note = 12;", "string note = 12;\n  string " + strings.Repeat("n", 300) + " = 13;"}, ok},
		{"10,001 columns", base, []string{"enum Status {", many(9990) + "enum Status {", "string note = 12;", "string note = 12;\n  Wide wide = 13;"}, "EV-L04"},
		{"a policy tag that is not a resource name", base, []string{"string note = 12;", `string note = 12 [(hem.options.v1.field).policy_tag = "projects/p/pii"];`}, "EV-L10"},
		{"a policy tag's resource name", base, []string{"string note = 12;", `string note = 12 [(hem.options.v1.field).policy_tag = "projects/p/locations/eu/taxonomies/1/policyTags/2"];`}, ok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := compat.Lint(version(t, c.src, c.edits...))
			if c.rule == ok {
				if len(got) != 0 {
					t.Fatalf("refused within the limits: %v", got)
				}
				return
			}
			if !has(got, c.rule, "") {
				t.Fatalf("not refused as %s: %v", c.rule, got)
			}
			for _, v := range got {
				if v.Message == "" || compat.RuleName(v.Rule) == "" || len(v.Message) > 1000 {
					t.Fatalf("violation without a known rule or a readable message: %.300v", v)
				}
			}
		})
	}
}

// A table name derived from a long package and message name is refused
// too, as EV-L04: it is not an option the author wrote.
func TestLongDerivedTableName(t *testing.T) {
	t.Parallel()
	name := "Order" + strings.Repeat("x", 1100)
	src, err := contract.CompileSources(t.Context(), map[string]string{"acme/orders/v1/o.proto": `syntax = "proto3";
package acme.orders.v1;
import "hem/options/v1/options.proto";
message ` + name + ` {
  option (hem.options.v1.event) = {};
  string id = 1;
}
`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("acme.orders.v1." + name)
	if err != nil {
		t.Fatal(err)
	}
	if got := compat.Lint(s); !has(got, "EV-L04", "") {
		t.Fatalf("a derived table name of %d bytes was not refused: %v", len(contract.TableName(s.Descriptor())), got)
	}
}

// A long comment is admitted: the mapping cuts descriptions to BigQuery's
// 1,024 characters instead of refusing the contract.
func TestLongCommentsAreCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ग", 2000) // three bytes each: a cut at byte 1,024 splits one
	s := version(t, base, "string note = 12;", "// "+long+"\n  string note = 12;", "message OrderCreated {", "// "+long+"\nmessage OrderCreated {")
	if got := compat.Lint(s); len(got) != 0 {
		t.Fatalf("a long comment was refused: %v", got)
	}
	tbl, err := contract.MapTable(s.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(tbl.Description); n > 16384 || n == 0 {
		t.Fatalf("table description of %d characters", n)
	}
	for _, c := range tbl.Columns {
		if n := utf8.RuneCountInString(c.Description); n > 1024 {
			t.Fatalf("column %s: description of %d characters", c.Name, n)
		}
		if !utf8.ValidString(c.Description) {
			t.Errorf("column %s: the description was cut inside a character: it is not UTF-8", c.Name)
		}
	}
}
