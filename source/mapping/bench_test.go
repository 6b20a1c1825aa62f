package mapping_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	"github.com/hemlabs/hem/source/read"
)

// benchSource maps the catalogue onto ProductCreated's 8 fields: 4 column
// reads (sku, ean, category by enum name, chilled), 3 CEL expressions
// (name, price.amount_micros, created_at) and a constant (currency_code).
func benchSource() *sourcev1.Source {
	src := productCatalogue()
	src.Format.GetCsv().Columns = benchHeader
	src.Fields = map[string]string{
		"sku":                 "article_no",
		"ean":                 "ean",
		"category":            "category",
		"chilled":             "chilled",
		"name":                `row.brand.trim() + " " + row.designation.trim()`,
		"price.amount_micros": `scaled(row.price, 6, ",")`,
		"price.currency_code": `"EUR"`,
		"created_at":          `date(row.listed_on, "DD.MM.YYYY", "Europe/Berlin")`,
	}
	src.EventTime = ""
	return src
}

var benchHeader = []string{"article_no", "brand", "designation", "category", "price", "ean", "chilled", "listed_on"}

func benchRecord() read.Record {
	return read.Record{
		Header: benchHeader,
		Values: []string{"4711", " Alpenhof ", "Bergkäse 250g", "DAIRY", "3,49", "4012345678901", "1", "01.12.2026"},
	}
}

func BenchmarkMapProductRow(b *testing.B) {
	md := (&productsv1.ProductCreated{}).ProtoReflect().Descriptor()
	m := mustCompile(b, benchSource(), md)
	rec := benchRecord()
	got, err := m.Map(rec)
	if err != nil {
		b.Fatal(err)
	}
	var p productsv1.ProductCreated
	if err := proto.Unmarshal(got.Payload, &p); err != nil || p.GetPrice().GetAmountMicros() != 3_490_000 || p.GetCategory() != productsv1.Category_CATEGORY_DAIRY {
		b.Fatalf("%v %v", &p, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
}
