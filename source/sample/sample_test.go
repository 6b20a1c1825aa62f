package sample_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"github.com/hemlabs/hem/source/sample"
	"github.com/hemlabs/hem/source/spec"
)

// record is one record read back: its entry and line, and the contract
// message the declaration's mapping makes of it.
type record struct {
	entry string
	line  int64
	msg   proto.Message
}

// contracts are the sample sources' subjects as Go types.
var contracts = map[string]proto.Message{
	"shop.products.v1.ProductCreated":    &productsv1.ProductCreated{},
	"shop.products.v1.StockLevelChanged": &productsv1.StockLevelChanged{},
}

// declaration is sources/NAME.yaml, and its mapping.
func declaration(t *testing.T, name string) (*sourcev1.Source, *mapping.Mapping) {
	t.Helper()
	decls, err := spec.Load("../../sources")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range decls {
		if d.Source.GetName() == name {
			m, err := mapping.Compile(d.Source, contracts[d.Source.GetSubject()].ProtoReflect().Descriptor())
			if err != nil {
				t.Fatal(err)
			}
			return d.Source, m
		}
	}
	t.Fatalf("sources/ declares no %s", name)
	return nil, nil
}

// readBack reads a sample file back with source/read as sources/NAME.yaml
// declares it, and maps each record with its mapping: a record that cannot
// be read or mapped fails the test (an invalid record must map fine).
func readBack(t *testing.T, name string, file []byte) (recs []record) {
	t.Helper()
	src, m := declaration(t, name)
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	obj, err := read.FileObject(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := read.Open(t.Context(), obj, src, read.Limits{})
	if emptyFile(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next(t.Context())
		if err == io.EOF || emptyFile(err) && len(recs) == 0 {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		mapped, err := m.Map(rec)
		if err != nil {
			t.Fatalf("line %d: %v", rec.Line, err)
		}
		msg := contracts[src.GetSubject()].ProtoReflect().New().Interface()
		if err := proto.Unmarshal(mapped.Payload, msg); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, record{entry: rec.Entry, line: rec.Line, msg: msg})
	}
}

// emptyFile: an NDJSON file of no records is empty, which read refuses.
func emptyFile(err error) bool {
	var fe *read.FileError
	return errors.As(err, &fe) && strings.HasSuffix(fe.Error(), "empty file")
}

// violation is the first rule a message breaks, "" when it is valid.
func violation(t *testing.T, m proto.Message) (field, rule string) {
	t.Helper()
	err := protovalidate.Validate(m)
	if err == nil {
		return "", ""
	}
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	v := ve.Violations[0].Proto
	return protovalidate.FieldPathString(v.GetField()), v.GetRuleId()
}

func TestWriteInvalidCount(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, name := range sample.Names() {
		for _, tc := range []struct {
			rows    int
			invalid float64
			want    int
		}{
			{0, 0.5, 0},
			{1, 0, 0},
			{1, 0.5, 1}, // round half away from zero
			{1, 1, 1},
			{1000, 0.003, 3},
			{1000, 0.0105, 11},
			{1000, 0.0104, 10},
			{997, 0.3, 299},
			{500, 1, 500},
		} {
			t.Run(fmt.Sprintf("%s/%d/%v", name, tc.rows, tc.invalid), func(t *testing.T) {
				t.Parallel()
				if got := sample.Count(tc.rows, tc.invalid); got != tc.want {
					t.Fatalf("Count(%d, %v) = %d, want %d", tc.rows, tc.invalid, got, tc.want)
				}
				var buf bytes.Buffer
				var reported []sample.Invalid
				err := sample.Write(&buf, name, tc.rows, tc.invalid, 42, sample.WithDate(day),
					sample.WithInvalidRecords(func(i sample.Invalid) { reported = append(reported, i) }))
				if err != nil {
					t.Fatal(err)
				}
				recs := readBack(t, name, buf.Bytes())
				if len(recs) != tc.rows {
					t.Fatalf("%d records read back, want %d", len(recs), tc.rows)
				}
				// Every record protovalidate rejects was reported, with
				// its line, entry, field and rule, and no other.
				var rejected []sample.Invalid
				for n, r := range recs {
					if field, rule := violation(t, r.msg); rule != "" {
						rejected = append(rejected, sample.Invalid{Number: int64(n), Entry: r.entry, Line: r.line, Field: field, Rule: rule})
					}
				}
				if len(rejected) != tc.want {
					t.Errorf("protovalidate rejects %d records, want %d", len(rejected), tc.want)
				}
				if fmt.Sprint(rejected) != fmt.Sprint(reported) {
					t.Errorf("rejected %v\nreported %v", rejected, reported)
				}
				// Spread: one in each of want equal stretches.
				for i, r := range reported {
					lo, hi := int64(i)*int64(tc.rows)/int64(tc.want), int64(i+1)*int64(tc.rows)/int64(tc.want)
					if r.Number < lo || r.Number >= hi {
						t.Errorf("invalid record %d at %d, outside its stretch [%d,%d)", i, r.Number, lo, hi)
					}
				}
			})
		}
	}
}

func TestWriteKinds(t *testing.T) {
	t.Parallel()
	// A file of invalid records breaks each rule the generator knows.
	for name, want := range map[string][]string{
		"product-catalogue": {"ean string.pattern", "name string.max_len", "sku string.min_len"},
		"stock-count":       {"location_id string.min_len", "on_hand int64.gte", "sku string.min_len"},
	} {
		seen := map[string]bool{}
		err := sample.Write(io.Discard, name, 100, 1, 7, sample.WithInvalidRecords(func(i sample.Invalid) { seen[i.Field+" "+i.Rule] = true }))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range want {
			if !seen[k] {
				t.Errorf("%s: no record breaks %s (saw %v)", name, k, seen)
			}
		}
	}
}

func TestWriteDeterministic(t *testing.T) {
	t.Parallel()
	for _, name := range sample.Names() {
		write := func(seed int64, opts ...sample.Option) []byte {
			var b bytes.Buffer
			if err := sample.Write(&b, name, 2000, 0.01, seed, append(opts, sample.WithoutCompression())...); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
		a, b, c := write(1), write(1), write(2)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the same seed wrote different files", name)
		}
		if bytes.Equal(a, c) {
			t.Errorf("%s: two seeds wrote the same file", name)
		}
		// A revision corrects every tenth record and only those.
		rev := write(1, sample.WithRevision(1))
		al, rl := bytes.Split(a, []byte("\n")), bytes.Split(rev, []byte("\n"))
		if len(al) != len(rl) {
			t.Fatalf("%s: revision has %d lines, want %d", name, len(rl), len(al))
		}
		first := 0
		if name == "product-catalogue" {
			first = 1 // the header
		}
		for i := range al {
			n := i - first
			if changed := !bytes.Equal(al[i], rl[i]); changed != (n >= 0 && n < 2000 && n%10 == 0) {
				t.Errorf("%s: record %d changed=%v in revision 1:\n%s\n%s", name, n, changed, al[i], rl[i])
			}
		}
	}
}

func TestWriteArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rows    int
		invalid float64
		want    string
	}{
		{"nope", 1, 0, "unknown sample source"},
		{"stock-count", -1, 0, "rows -1"},
		{"stock-count", 1, 1.5, "not within 0..1"},
		{"stock-count", 1, -0.1, "not within 0..1"},
	} {
		err := sample.Write(io.Discard, tc.name, tc.rows, tc.invalid, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write(%q, %d, %v) = %v, want %q", tc.name, tc.rows, tc.invalid, err, tc.want)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, name := range sample.Names() {
		b.Run(name, func(b *testing.B) {
			var n countWriter
			b.ReportAllocs()
			for b.Loop() {
				if err := sample.Write(&n, name, 10_000, 0.01, 1, sample.WithoutCompression()); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(n) / int64(b.N))
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// TestCatalogueIsLatin1: the catalogue's accents are Latin-1 bytes (not
// UTF-8), which read decodes as declared (TestWriteInvalidCount maps every
// record: the declaration's category map spells "Tiefkühl" in UTF-8).
func TestCatalogueIsLatin1(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sample.Write(&b, "product-catalogue", 200, 0, 1, sample.WithoutCompression()); err != nil {
		t.Fatal(err)
	}
	if utf8.Valid(b.Bytes()) || !bytes.Contains(b.Bytes(), []byte("Tiefk\xfchl")) {
		t.Error("the catalogue is not Latin-1")
	}
}
