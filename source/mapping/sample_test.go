package mapping_test

import (
	"encoding/json"
	"os"
	"testing"

	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"github.com/hemlabs/hem/source/spec"
)

// catalogue is sources/product-catalogue.yaml as spec loads it, compiled.
func catalogue(tb testing.TB) *mapping.Mapping {
	tb.Helper()
	data, err := os.ReadFile("../../sources/product-catalogue.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := spec.Parse("product-catalogue.yaml", data)
	if err != nil {
		tb.Fatal(err)
	}
	return mustCompile(tb, d.Source, (&productsv1.ProductCreated{}).ProtoReflect().Descriptor())
}

func catalogueRecord() read.Record {
	return read.Record{
		Header: productHeader,
		Values: []string{"4711", " Alpenhof ", "Bergkäse 250g", "Molkerei", "3,49", "4012345678901", "J", "0,250", "2026-12-01"},
	}
}

// BenchmarkMapProductCatalogue maps a line with the sample declaration as
// committed in sources/.
func BenchmarkMapProductCatalogue(b *testing.B) {
	m := catalogue(b)
	rec := catalogueRecord()
	if _, err := m.Map(rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapStockCount maps an NDJSON record with sources/stock-count.yaml.
func BenchmarkMapStockCount(b *testing.B) {
	data, err := os.ReadFile("../../sources/stock-count.yaml")
	if err != nil {
		b.Fatal(err)
	}
	d, err := spec.Parse("stock-count.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	m := mustCompile(b, d.Source, (&productsv1.StockLevelChanged{}).ProtoReflect().Descriptor())
	rec := read.Record{Object: map[string]any{"article": "4711", "store": "B-17", "qty": json.Number("12"), "change": json.Number("-3"), "counted": "2026-12-07T06:00:00Z"}}
	if _, err := m.Map(rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
}
