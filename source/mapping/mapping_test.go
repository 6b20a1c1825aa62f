package mapping_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

// productCatalogue is sources/product-catalogue.yaml.
func productCatalogue() *sourcev1.Source {
	return &sourcev1.Source{
		Name:    "product-catalogue",
		Subject: "shop.products.v1.ProductCreated",
		Objects: &sourcev1.Objects{Bucket: "hem-landing", Pattern: "catalogue/*.csv.gz"},
		Format: &sourcev1.Format{Kind: &sourcev1.Format_Csv{Csv: &sourcev1.Csv{
			Delimiter: ";",
			Encoding:  sourcev1.Encoding_ENCODING_LATIN1,
			Columns:   []string{"article_no", "brand", "designation", "category", "price", "ean", "chilled", "weight_kg", "listed_on"},
		}}},
		Fields: map[string]string{
			"sku":  "article_no",
			"name": `row.brand.trim() + " " + row.designation.trim()`,
			"category": `{"Obst & Gemüse": 1, "Molkerei": 2, "Backwaren": 3,
 "Tiefkühl": 4, "Getränke": 5, "Haushalt": 6}[row.category.trim()]`,
			"price.amount_micros": `int(double(row.price.replace(",", ".")) * 1000000.0 + 0.5)`,
			"price.currency_code": `"EUR"`,
			"ean":                 "ean",
			"chilled":             `row.chilled == "J"`,
			"weight_grams":        `int(double(row.weight_kg.replace(",", ".")) * 1000.0 + 0.5)`,
			"created_at":          `timestamp(row.listed_on + "T00:00:00Z")`,
		},
		EventTime: `timestamp(row.listed_on + "T00:00:00Z")`,
		Key:       []string{"sku"},
	}
}

var productHeader = []string{"article_no", "brand", "designation", "category", "price", "ean", "chilled", "weight_kg", "listed_on"}

// TestMapProductCatalogue maps a line of the supplier's catalogue with the
// sample declaration: renamed columns, a combined name, a shelf name to an
// enum, euros with a decimal comma to micros.
func TestMapProductCatalogue(t *testing.T) {
	t.Parallel()
	md := (&productsv1.ProductCreated{}).ProtoReflect().Descriptor()
	m := mustCompile(t, productCatalogue(), md)
	got, err := m.Map(csvRecord(productHeader, "4711", " Alpenhof ", "Bergkäse 250g", "Molkerei", "3,49", "4012345678901", "J", "0,25", "2026-12-01"))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	var p productsv1.ProductCreated
	if err := proto.Unmarshal(got.Payload, &p); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	want := &productsv1.ProductCreated{
		Sku:         "4711",
		Name:        "Alpenhof Bergkäse 250g",
		Category:    productsv1.Category_CATEGORY_DAIRY,
		Price:       &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 3_490_000},
		Ean:         "4012345678901",
		Chilled:     true,
		WeightGrams: proto.Int32(250),
		CreatedAt:   timestamppb.New(day),
	}
	if !proto.Equal(&p, want) {
		t.Fatalf("got %v\nwant %v", &p, want)
	}
	if b, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(want); string(b) != string(got.Payload) {
		t.Fatalf("payload %x is not the deterministic encoding %x", got.Payload, b)
	}
	if !got.EventTime.Equal(day) || !slices.Equal(got.Key, []string{"4711"}) {
		t.Fatalf("event time %v, key %q", got.EventTime, got.Key)
	}

	// A shelf name the map does not know rejects the line, naming the field.
	_, err = m.Map(csvRecord(productHeader, "4712", "A", "B", "Spielwaren", "1,00", "4012345678901", "N", "1", "2026-12-01"))
	var me *mapping.MapError
	if !errors.As(err, &me) || me.Field != "category" || me.Column != "category" || !strings.Contains(me.Message, "no such key: Spielwaren") {
		t.Fatalf("unknown category: %v", err)
	}
}

// TestMapStockCount maps an NDJSON record (numbers as json.Number) with the
// sample stock-count declaration.
func TestMapStockCount(t *testing.T) {
	t.Parallel()
	md := (&productsv1.StockLevelChanged{}).ProtoReflect().Descriptor()
	src := &sourcev1.Source{
		Name:    "stock-count",
		Subject: "shop.products.v1.StockLevelChanged",
		Format:  &sourcev1.Format{Kind: &sourcev1.Format_Json{Json: &sourcev1.Json{Columns: []string{"article", "store", "qty", "change", "counted"}}}},
		Fields: map[string]string{
			"sku":         "article",
			"location_id": "store",
			"on_hand":     "int(row.qty)",
			"delta":       "int(row.change)",
			"counted_at":  "timestamp(row.counted)",
		},
		EventTime: "timestamp(row.counted)",
		Key:       []string{"sku", "location_id", "counted_at"},
	}
	m := mustCompile(t, src, md)
	rec := read.Record{Object: map[string]any{"article": "4711", "store": json.Number("17"), "qty": json.Number("12"), "change": json.Number("-3"), "counted": "2026-12-07T06:00:00Z"}}
	got, err := m.Map(rec)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	var s productsv1.StockLevelChanged
	if err := proto.Unmarshal(got.Payload, &s); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	want := &productsv1.StockLevelChanged{Sku: "4711", LocationId: "17", OnHand: 12, Delta: -3, CountedAt: timestamppb.New(at)}
	if !proto.Equal(&s, want) {
		t.Fatalf("got %v, want %v", &s, want)
	}
	if !slices.Equal(got.Key, []string{"4711", "17", "2026-12-07T06:00:00Z"}) || !got.EventTime.Equal(at) {
		t.Fatalf("key %q, event time %v", got.Key, got.EventTime)
	}

	// A missing field and a value of the wrong type reject the record.
	for _, obj := range []map[string]any{
		{"article": "4711", "store": "17", "change": json.Number("1"), "counted": "2026-12-07T06:00:00Z"},
		{"article": "4711", "store": "17", "qty": json.Number("1.5e400"), "change": json.Number("1"), "counted": "2026-12-07T06:00:00Z"},
		{"article": "4711", "store": "17", "qty": true, "change": json.Number("1"), "counted": "2026-12-07T06:00:00Z"},
		{"article": map[string]any{}, "store": "17", "qty": json.Number("1"), "change": json.Number("1"), "counted": "2026-12-07T06:00:00Z"},
	} {
		if _, err := m.Map(read.Record{Object: obj}); !errors.As(err, new(*mapping.MapError)) {
			t.Errorf("Map(%v): %v, want a *MapError", obj, err)
		}
	}
}

// TestJSONColumns: without declared columns any identifier is a column
// read; JSON null and a missing field leave a field unset.
func TestJSONColumns(t *testing.T) {
	t.Parallel()
	md := all(t)
	m := mustCompile(t, jsonSource(nil, map[string]string{"i64": "n", "st": "s", "opt": "o", "ts": "t", "db": "row.d", "tags": "row.l"}), md)
	got, err := m.Map(read.Record{Object: map[string]any{"n": json.Number("7"), "s": json.Number("1.50"), "o": nil, "t": "2026-12-07T00:00:00Z", "d": json.Number("2"), "l": []any{"a", "b"}}})
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	want := text(t, md, `i64: 7 st: "1.50" ts: {seconds: 1796601600} db: 2 tags: ["a", "b"]`)
	if msg := decode(t, md, got.Payload); !proto.Equal(msg, want) {
		t.Fatalf("got %v, want %v", msg, want)
	}
}

func memberSource(fields map[string]string) *sourcev1.Source {
	s := csvSource([]string{"id", "mail", "name", "city", "store"}, fields)
	s.Subject = "shop.members.v1.MemberRegistered"
	return s
}

// TestPII: the columns read by PII fields are named, their values never
// appear in a MapError, and WithholdPII replaces them in the record's text.
func TestPII(t *testing.T) {
	t.Parallel()
	md := (&membersv1.MemberRegistered{}).ProtoReflect().Descriptor()
	m := mustCompile(t, memberSource(map[string]string{
		"member_id":     "id",
		"email":         "row.mail.trim().lowerAscii()",
		"full_name":     "name",
		"address.city":  "city",
		"home_store_id": "store",
		"registered_at": "row.store == '' ? optional.none() : optional.of(timestamp(row.store))",
	}), md)
	if got, want := m.PIIColumns(), []string{"city", "mail", "name"}; !slices.Equal(got, want) {
		t.Fatalf("PIIColumns %q, want %q", got, want)
	}
	header := []string{"id", "mail", "name", "city", "store"}
	rec := csvRecord(header, "m-1", "Jo@Example.org", "Jo \"J\" Doe", "Köln; Mitte", "s1")
	_, err := m.Map(rec)
	var me *mapping.MapError
	if !errors.As(err, &me) || me.Field != "registered_at" {
		t.Fatalf("Map: %v, want a *MapError on registered_at", err)
	}
	// registered_at reads store, which is not PII: its value is quoted.
	if !strings.Contains(me.Error(), "s1") {
		t.Fatalf("non-PII error lost its detail: %v", me)
	}

	src := memberSource(map[string]string{"member_id": "id", "email": "row.mail.trim()", "full_name": "name", "registered_at": "timestamp(row.mail)", "address.city": "int(row.city) > 0 ? row.city : ''"})
	m = mustCompile(t, src, md)
	secret := "Jo@Example.org"
	for _, rec := range []read.Record{
		csvRecord(header, "m-1", secret, "Jo", "Köln", "s1"), // address.city fails
		csvRecord(header, "m-1", secret, "Jo", "5", "s1"),    // registered_at fails
	} {
		_, err := m.Map(rec)
		if err == nil || strings.Contains(err.Error(), "Example") || strings.Contains(err.Error(), "Köln") {
			t.Fatalf("Map: %v: quotes a PII value (or did not fail)", err)
		}
	}
	// A column read of a PII column with a bad value.
	m = mustCompile(t, csvSource([]string{"c"}, map[string]string{"secret": "row.c", "private.b": "c"}), all(t))
	_, err = m.Map(csvRecord([]string{"c"}, "12x@secret"))
	if err == nil || strings.Contains(err.Error(), "12x") || !strings.Contains(err.Error(), "value withheld: PII") {
		t.Fatalf("Map: %v: want the value withheld", err)
	}

	m = mustCompile(t, memberSource(map[string]string{"member_id": "id", "email": "mail", "full_name": "name", "registered_at": "timestamp(row.store)"}), md)
	rec = csvRecord(header, "m-1", secret, "Jo \"J\" Doe", "Köln", "2026-12-07T00:00:00Z")
	if got, want := m.WithholdPII(rec), `m-1,[PII withheld],[PII withheld],Köln,2026-12-07T00:00:00Z`; got != want {
		t.Fatalf("WithholdPII %q, want %q", got, want)
	}
	js := mustCompile(t, jsonSource(nil, map[string]string{"member_id": "id", "email": "mail"}), md)
	obj := read.Record{Object: map[string]any{"id": "m-1", "mail": secret, "n": json.Number("1.50")}, Raw: []byte(`{"id":"m-1","mail":"` + secret + `","n":1.50}`)}
	if got, want := js.WithholdPII(obj), `{"id":"m-1","mail":"[PII withheld]","n":1.50}`; got != want {
		t.Fatalf("WithholdPII %q, want %q", got, want)
	}
	plain := mustCompile(t, jsonSource(nil, map[string]string{"member_id": "id"}), md)
	if got := plain.WithholdPII(obj); got != string(obj.Raw) {
		t.Fatalf("WithholdPII without PII: %q, want the record as read", got)
	}
}

// TestMapConcurrent maps from many goroutines with two headers alternating
// (two files): run with -race.
func TestMapConcurrent(t *testing.T) {
	t.Parallel()
	md := all(t)
	m := mustCompile(t, csvSource([]string{"a", "b"}, map[string]string{"i64": "a", "st": "row.b + row.a"}), md)
	h1, h2 := []string{"a", "b"}, []string{"b", "x", "a"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				rec := csvRecord(h1, fmt.Sprint(i), "x")
				if (g+i)%2 == 0 {
					rec = csvRecord(h2, "x", "-", fmt.Sprint(i))
				}
				got, err := m.Map(rec)
				if err != nil {
					t.Error(err)
					return
				}
				want := text(t, md, fmt.Sprintf(`i64: %d st: "x%d"`, i, i))
				if i == 0 {
					want = text(t, md, `st: "x0"`)
				}
				if msg := decode(t, md, got.Payload); !proto.Equal(msg, want) {
					t.Errorf("got %v, want %v", msg, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
