package read_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/read"
)

// summary is a record as one comparable line: entry:line:number, then the
// values or object, then the raw bytes.
func summary(r read.Record) string {
	var v any = r.Values
	if r.Object != nil {
		v = r.Object
	}
	return fmt.Sprintf("%s:%d:%d %v %q", r.Entry, r.Line, r.Number, v, r.Raw)
}

func summaries(recs []read.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, summary(r))
	}
	return out
}

const catalogue = "sku,name,price\n" +
	"A1,Anvil,10\n" +
	"\n" +
	"B2,\"Bolt, \"\"hex\"\"\nM8\",0.5\r\n" +
	"C3,Café,7\n"

var catalogueWant = []string{
	`:2:0 [A1 Anvil 10] "A1,Anvil,10"`,
	`:4:1 [B2 Bolt, "hex"` + "\n" + `M8 0.5] "B2,\"Bolt, \"\"hex\"\"\nM8\",0.5"`,
	`:6:2 [C3 Café 7] "C3,Café,7"`,
}

const orders = `{"id": 1, "total": 10.50}
{"id": 2, "total": 3}

{"id": 3, "note": "été"}
`

var ordersWant = func(entry string, first int64) []string {
	return []string{
		fmt.Sprintf(`%s:1:%d map[id:1 total:10.50] "{\"id\": 1, \"total\": 10.50}"`, entry, first),
		fmt.Sprintf(`%s:2:%d map[id:2 total:3] "{\"id\": 2, \"total\": 3}"`, entry, first+1),
		fmt.Sprintf(`%s:4:%d map[id:3 note:été] "{\"id\": 3, \"note\": \"été\"}"`, entry, first+2),
	}
}

func parquetFile(t testing.TB) []byte {
	t.Helper()
	type row struct {
		SKU   string  `parquet:"sku"`
		Price float64 `parquet:"price"`
		Stock int64   `parquet:"stock"`
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []row{{"A1", 10, 3}, {"B2", 0.5, 0}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadGood(t *testing.T) {
	t.Parallel()
	tsv := func() *sourcev1.Source {
		s := csvSrc("sku", "name")
		s.GetFormat().GetCsv().Delimiter = "\t"
		return s
	}
	latin1 := func() *sourcev1.Source {
		s := csvSrc("sku")
		s.GetFormat().GetCsv().Encoding = sourcev1.Encoding_ENCODING_LATIN1
		return s
	}
	skip := func() *sourcev1.Source {
		s := csvSrc("sku")
		s.GetFormat().GetCsv().SkipLines = 2
		return s
	}
	array := `[
  {"id": 1, "total": 10.50},
  {"id": 2,
   "total": 3}, {"id": 3, "note": "été"}
]
`
	arrayWant := []string{
		`:1:0 map[id:1 total:10.50] "{\"id\": 1, \"total\": 10.50}"`,
		`:2:1 map[id:2 total:3] "{\"id\": 2,\n   \"total\": 3}"`,
		`:3:2 map[id:3 note:été] "{\"id\": 3, \"note\": \"été\"}"`,
	}
	prefixed := func(entry string, first int64, want []string) []string {
		var out []string
		for i, w := range want {
			_, rest, _ := strings.Cut(w, ":")
			line, rest, _ := strings.Cut(rest, ":")
			_, rest, _ = strings.Cut(rest, " ")
			out = append(out, fmt.Sprintf("%s:%s:%d %s", entry, line, first+int64(i), rest))
		}
		return out
	}
	tests := []struct {
		name string
		obj  []byte
		src  *sourcev1.Source
		want []string
	}{
		{"csv", []byte(catalogue), csvSrc("sku", "price"), catalogueWant},
		{"csv without a final newline", []byte(strings.TrimSuffix(catalogue, "\n")), csvSrc("sku"), catalogueWant},
		{"csv with a byte order mark", []byte("\xEF\xBB\xBF" + catalogue), csvSrc("sku"), catalogueWant},
		{"csv gzip", gz(t, catalogue), withGzip(csvSrc("sku")), catalogueWant},
		{"csv gzip of two members", gz(t, catalogue[:30], catalogue[30:]), withGzip(csvSrc("sku")), catalogueWant},
		{"csv zstd", zst(t, catalogue), withZstd(csvSrc("sku")), catalogueWant},
		{"csv zip", zipOf(t, entry{"b.csv", catalogue}, entry{"notes.txt", "not csv"}, entry{"a.csv", catalogue}), withZip(csvSrc("sku"), "*.csv"),
			append(prefixed("a.csv", 0, catalogueWant), prefixed("b.csv", 3, catalogueWant)...)},
		{"csv tar.gz", tarGz(t, entry{"x/1.csv", catalogue}, entry{"x/readme", "hi"}, entry{"x/y/2.csv", catalogue}), withTarGz(csvSrc("sku"), "x/**/*.csv"),
			append(prefixed("x/1.csv", 0, catalogueWant), prefixed("x/y/2.csv", 3, catalogueWant)...)},
		{"tsv", []byte("sku\tname\nA1\tAnvil, big\n"), tsv(), []string{`:2:0 [A1 Anvil, big] "A1\tAnvil, big"`}},
		{"csv latin-1", []byte("sku,name\nA1,Caf\xe9\n"), latin1(), []string{`:2:0 [A1 Café] "A1,Café"`}},
		{"csv skip lines", []byte("Catalogue of 2026-12-07\n\nsku\nA1\n"), skip(), []string{`:4:0 [A1] "A1"`}},
		{"ndjson", []byte(orders), jsonSrc(false), ordersWant("", 0)},
		{"ndjson gzip", gz(t, orders), withGzip(jsonSrc(false)), ordersWant("", 0)},
		{"ndjson zstd", zst(t, orders), withZstd(jsonSrc(false)), ordersWant("", 0)},
		{"ndjson zip", zipOf(t, entry{"2.ndjson", orders}, entry{"1.ndjson", orders}), withZip(jsonSrc(false), ""),
			append(ordersWant("1.ndjson", 0), ordersWant("2.ndjson", 3)...)},
		{"ndjson tar.gz", tarGz(t, entry{"o.json", orders}), withTarGz(jsonSrc(false), ""), ordersWant("o.json", 0)},
		{"json array", []byte(array), jsonSrc(true), arrayWant},
		{"json array gzip", gz(t, array), withGzip(jsonSrc(true)), arrayWant},
		{"json array zip", zipOf(t, entry{"a.json", array}), withZip(jsonSrc(true), "*.json"), prefixed("a.json", 0, arrayWant)},
		{"json empty array", []byte("[]"), jsonSrc(true), nil},
		{"parquet", parquetFile(t), parquetSrc("sku", "price"), []string{
			`:1:0 map[price:10 sku:A1 stock:3] ""`,
			`:2:1 map[price:0.5 sku:B2 stock:0] ""`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := readAll(t, memObject{"obj", tt.obj}, tt.src, read.Limits{})
			if res.err != nil {
				t.Fatalf("read: %v", res.err)
			}
			if len(res.rejects) > 0 {
				t.Fatalf("rejected: %v", res.rejects[0])
			}
			if got := summaries(res.recs); !slices.Equal(got, tt.want) {
				t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReadRejectsRecordAndGoesOn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		obj     string
		src     *sourcev1.Source
		records int
		reject  string // summary of the rejected record
		reason  string
	}{
		{"csv with a field too many", "a,b\n1,2\n3,4,5\n6,7\n", csvSrc("a"), 2, `:3:1 [] "3,4,5"`, "3 fields where the header has 2"},
		{"csv with a field missing", "a,b\n1,2\n3\n6,7\n", csvSrc("a"), 2, `:3:1 [] "3"`, "1 fields where the header has 2"},
		{"csv with a bare quote", "a,b\n1,2\n3,x\"y\n6,7\n", csvSrc("a"), 2, `:3:1 [] "3,x\"y"`, `bare "`},
		{"csv ending in a bare quote", "a,b\n1,2\n6,7\n3,x\"y", csvSrc("a"), 2, `:4:2 [] "3,x\"y"`, `bare "`},
		{"ndjson with an array", "{\"a\":1}\n[1]\n{\"a\":2}\n", jsonSrc(false), 2, `:2:1 [] "[1]"`, "a JSON array, not an object"},
		{"ndjson with broken json", "{\"a\":1}\n{\"a\":\n{\"a\":2}\n", jsonSrc(false), 2, `:2:1 [] "{\"a\":"`, "not valid JSON"},
		{"json array with a number", `[{"a":1}, 2, {"a":3}]`, jsonSrc(true), 2, `:2:1 [] "2"`, "a JSON number, not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := readAll(t, memObject{"obj", []byte(tt.obj)}, tt.src, read.Limits{})
			if res.err != nil {
				t.Fatalf("read: %v", res.err)
			}
			if len(res.recs) != tt.records || len(res.rejects) != 1 {
				t.Fatalf("%d records and %d rejected, want %d and 1", len(res.recs), len(res.rejects), tt.records)
			}
			re := res.rejects[0]
			if got := summary(re.Record); got != tt.reject {
				t.Errorf("rejected record %s, want %s", got, tt.reject)
			}
			if !strings.Contains(re.Error(), tt.reason) {
				t.Errorf("reason %q, want it to say %q", re.Error(), tt.reason)
			}
			if last := res.recs[len(res.recs)-1]; last.Number != int64(tt.records) && re.Record.Number != int64(tt.records) {
				t.Errorf("the last record is number %d, want %d", last.Number, tt.records)
			}
		})
	}
}
