package spec_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/hemlabs/hem/source/spec"
)

func ExampleParse() {
	_, err := spec.Parse("sources/catalogue.yaml", []byte(`name: catalogue
subject: shop.products.v1.ProductCreated
objects: {bucket: hem-landing, pattern: catalogue/*.csv.gz}
format:
  csv: {delimiter: ";", encoding: LATN1, columns: [article_no]}
fields:
  sku: article_no
kee: [sku]
`))
	fmt.Println(err)
	// Output:
	// sources/catalogue.yaml:5:35: format.csv.encoding: unknown Encoding "LATN1"; did you mean "LATIN1"? (one of UTF8, LATIN1)
	// sources/catalogue.yaml:8:1: kee: unknown field; did you mean "key"? (Source has name, description, subject, objects, format, compression, fields, event_time, key, max_rejected_share)
}

func ExampleMatch() {
	fmt.Println(spec.Match("catalogue/*.csv.gz", "catalogue/2026-12-07.csv.gz"))
	fmt.Println(spec.Match("catalogue/*.csv.gz", "catalogue/old/2026-12-07.csv.gz"))
	fmt.Println(spec.Match("catalogue/**/*.csv.gz", "catalogue/old/2026-12-07.csv.gz"))
	fmt.Println(spec.FixedPrefix("catalogue/**/*.csv.gz"))
	// Output:
	// true
	// false
	// true
	// catalogue/
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("../../sources/product-catalogue.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Parse("product-catalogue.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
