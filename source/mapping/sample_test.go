package mapping_test

import (
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
