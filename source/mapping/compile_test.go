package mapping_test

import (
	"errors"
	"strings"
	"testing"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	"github.com/hemlabs/hem/source/mapping"
)

// TestCompileProblems: every kind of mistake in a declaration is a Problem
// whose Path points at the element, with a message that says what to fix.
func TestCompileProblems(t *testing.T) {
	t.Parallel()
	product := (&productsv1.ProductCreated{}).ProtoReflect().Descriptor()
	cols := []string{"article_no", "brand", "designation", "price", "listed_on", "weight_kg"}
	base := func() map[string]string {
		return map[string]string{"sku": "article_no", "name": "row.brand + row.designation"}
	}
	with := func(k, v string) map[string]string {
		f := base()
		f[k] = v
		return f
	}
	tests := []struct {
		name     string
		src      *sourcev1.Source
		wantPath string
		wantMsg  string
	}{
		{
			name:     "unknown field",
			src:      csvSource(cols, with("prise.amount_micros", "int(row.price)")),
			wantPath: "fields[prise.amount_micros]",
			wantMsg:  "contract shop.products.v1.ProductCreated has no field prise; did you mean price?",
		},
		{
			name:     "unknown nested field",
			src:      csvSource(cols, with("price.amount", "int(row.price)")),
			wantPath: "fields[price.amount]",
			wantMsg:  "price (shop.common.v1.Money) has no field amount; did you mean price.amount_micros?",
		},
		{
			name:     "path through a scalar",
			src:      csvSource(cols, with("sku.x", "brand")),
			wantPath: "fields[sku.x]",
			wantMsg:  "sku is a string, not a message",
		},
		{
			name:     "message as a whole",
			src:      csvSource(cols, with("price", "price")),
			wantPath: "fields[price]",
			wantMsg:  "price is a shop.common.v1.Money: map its fields one by one (price.FIELD)",
		},
		{
			name:     "path into a timestamp",
			src:      csvSource(cols, with("created_at.seconds", "int(row.listed_on)")),
			wantPath: "fields[created_at.seconds]",
			wantMsg:  "created_at is a google.protobuf.Timestamp: map it as a whole",
		},
		{
			name:     "syntax error",
			src:      csvSource(cols, with("name", "row.brand +")),
			wantPath: "fields[name]",
			wantMsg:  "Syntax error",
		},
		{
			name:     "type mismatch",
			src:      csvSource(cols, with("weight_grams", "row.weight_kg")),
			wantPath: "fields[weight_grams]",
			wantMsg:  "expression is string, field weight_grams is int32",
		},
		{
			name:     "type mismatch of a list",
			src:      csvSource(cols, with("name", `row.brand.split(" ")`)),
			wantPath: "fields[name]",
			wantMsg:  "expression is list(string), field name is string",
		},
		{
			name:     "double to int",
			src:      csvSource(cols, with("price.amount_micros", "double(row.price) * 1e6")),
			wantPath: "fields[price.amount_micros]",
			wantMsg:  "expression is double, field price.amount_micros is int64",
		},
		{
			name:     "unknown function",
			src:      csvSource(cols, with("name", "row.brand.titleCase()")),
			wantPath: "fields[name]",
			wantMsg:  "undeclared reference to 'titleCase'",
		},
		{
			name:     "unknown column in an expression",
			src:      csvSource(cols, with("name", "row.brnd.trim()")),
			wantPath: "fields[name]",
			wantMsg:  "unknown column brnd; did you mean brand? (declared: article_no, brand, designation, price, listed_on, weight_kg)",
		},
		{
			name:     "unknown column by index",
			src:      csvSource(cols, with("name", `row["Brand"]`)),
			wantPath: "fields[name]",
			wantMsg:  "unknown column Brand; did you mean brand?",
		},
		{
			name:     "unknown column as shorthand",
			src:      csvSource(cols, with("sku", "article")),
			wantPath: "fields[sku]",
			wantMsg:  "unknown column article; did you mean article_no?",
		},
		{
			name:     "empty",
			src:      csvSource(cols, with("sku", " ")),
			wantPath: "fields[sku]",
			wantMsg:  "empty: name a column or write a CEL expression over row",
		},
		{
			name:     "bad date layout",
			src:      csvSource(cols, with("created_at", `date(row.listed_on, "DD.MM.YY")`)),
			wantPath: "fields[created_at]",
			wantMsg:  `date: layout "DD.MM.YY": YY is not a layout element`,
		},
		{
			name:     "bad time zone",
			src:      csvSource(cols, with("created_at", `date(row.listed_on, "DD.MM.YYYY", "Europe/Berln")`)),
			wantPath: "fields[created_at]",
			wantMsg:  `date: unknown time zone "Europe/Berln"`,
		},
		{
			name:     "bad separator",
			src:      csvSource(cols, with("price.amount_micros", `scaled(row.price, 6, ";")`)),
			wantPath: "fields[price.amount_micros]",
			wantMsg:  `scaled: the decimal separator must be "." or ",", not ";"`,
		},
		{
			name:     "event_time not a timestamp",
			src:      withEventTime(csvSource(cols, base()), `row.listed_on`),
			wantPath: "event_time",
			wantMsg:  "expression is string, event_time must be a timestamp",
		},
		{
			name:     "event_time unknown column",
			src:      withEventTime(csvSource(cols, base()), `timestamp(row.listed)`),
			wantPath: "event_time",
			wantMsg:  "unknown column listed; did you mean listed_on?",
		},
		{
			name:     "key not mapped",
			src:      withKey(csvSource(cols, base()), "sku", "ean"),
			wantPath: "key[1]",
			wantMsg:  "ean is not mapped: add it to fields, or drop it from the key",
		},
		{
			name:     "key unknown field",
			src:      withKey(csvSource(cols, base()), "skus"),
			wantPath: "key[0]",
			wantMsg:  "contract shop.products.v1.ProductCreated has no field skus; did you mean sku?",
		},
		{
			name:     "no format",
			src:      &sourcev1.Source{Fields: base()},
			wantPath: "format",
			wantMsg:  "no format",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mapping.Compile(tt.src, product)
			var errs mapping.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Compile: %v, want mapping.Errors", err)
			}
			for _, p := range errs {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Fatalf("Compile: %v\nwant %s: ...%s...", err, tt.wantPath, tt.wantMsg)
		})
	}
}

// TestCompileProblemsAll covers what the product contract cannot show:
// maps, repeated paths, repeated columns, oneofs and overlaps.
func TestCompileProblemsAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fields   map[string]string
		key      []string
		wantPath string
		wantMsg  string
	}{
		{fields: map[string]string{"labels": "c"}, wantPath: "fields[labels]", wantMsg: "labels is a map"},
		{fields: map[string]string{"inners.a": "c"}, wantPath: "fields[inners.a]", wantMsg: "inners is repeated: a path cannot go through it"},
		{fields: map[string]string{"tags": "c"}, wantPath: "fields[tags]", wantMsg: `tags is repeated: a column gives one value; write an expression giving a list, e.g. row.c.split("|")`},
		{fields: map[string]string{"tags": "[1, 2]"}, wantPath: "fields[tags]", wantMsg: "expression is list(int), field tags is repeated string"},
		{fields: map[string]string{"inner": `"x"`, "inner.a": "c"}, wantPath: "fields[inner]", wantMsg: "inner is a maptest.v1.Inner: map its fields one by one"},
		{fields: map[string]string{"wi32": "c", "tags": `["a"]`}, key: []string{"tags"}, wantPath: "key[0]", wantMsg: "tags is repeated: a key field holds one value"},
		{fields: map[string]string{"i64": `int("x")`}, wantPath: "fields[i64]", wantMsg: "type conversion error from 'string' to 'int'"},
		{fields: map[string]string{"i32": "3000000000"}, wantPath: "fields[i32]", wantMsg: "3000000000 is out of range for int32"},
		{fields: map[string]string{"colors": `["RED", "PINK"]`}, wantPath: "fields[colors]", wantMsg: `element 1: no value of enum maptest.v1.Color is named so: "PINK"`},
		{fields: map[string]string{"color": "1.5"}, wantPath: "fields[color]", wantMsg: "expression is double, field color is enum maptest.v1.Color"},
		{fields: map[string]string{"ts": `"2026-12-07T00:00:00Z"`}, wantPath: "fields[ts]", wantMsg: "expression is string, field ts is google.protobuf.Timestamp"},
	}
	md := all(t)
	for _, tt := range tests {
		t.Run(tt.wantPath+"/"+tt.wantMsg, func(t *testing.T) {
			t.Parallel()
			src := csvSource([]string{"c"}, tt.fields)
			src.Key = tt.key
			_, err := mapping.Compile(src, md)
			var errs mapping.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Compile: %v, want mapping.Errors", err)
			}
			for _, p := range errs {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Fatalf("Compile: %v\nwant %s: ...%s...", err, tt.wantPath, tt.wantMsg)
		})
	}
}

// TestCompileAllProblems: Compile reports every problem at once, in
// declaration order, so one run of hem source check shows them all.
func TestCompileAllProblems(t *testing.T) {
	t.Parallel()
	product := (&productsv1.ProductCreated{}).ProtoReflect().Descriptor()
	src := withKey(withEventTime(csvSource([]string{"a"}, map[string]string{"sku": "b", "name": "1", "prise.amount_micros": "a"}), "row.a"), "ean")
	_, err := mapping.Compile(src, product)
	var errs mapping.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Compile: %v", err)
	}
	var paths []string
	for _, p := range errs {
		paths = append(paths, p.Path)
	}
	if got, want := strings.Join(paths, " "), "fields[name] fields[prise.amount_micros] fields[sku] event_time key[0]"; got != want {
		t.Fatalf("paths %q, want %q\n%v", got, want, err)
	}
}

func withEventTime(s *sourcev1.Source, expr string) *sourcev1.Source {
	s.EventTime = expr
	return s
}

func withKey(s *sourcev1.Source, key ...string) *sourcev1.Source {
	s.Key = key
	return s
}
