package mapping_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

// nativeSource maps columns a..e with every expression the native path
// takes (row.x, row["x"], decimal, scaled, date on a column), into fields
// of several types (range errors, PII), plus the event time and a key.
func nativeSource() *sourcev1.Source {
	src := csvSource([]string{"a", "b", "c", "d", "e"}, map[string]string{
		"st":           `row.a`,
		"by":           `row["b"]`,
		"secret":       `row.e`,
		"i64":          `scaled(row.c, 6, ",")`,
		"i32":          `scaled(row.d, 2)`,
		"u64":          `scaled(row.d, 0, ".")`,
		"db":           `decimal(row.d, ".")`,
		"fl":           `decimal(row.c, ",")`,
		"ts":           `date(row.e, "DD.MM.YYYY HH:mm", "Europe/Berlin")`,
		"inner.b":      `scaled(row.a, 3)`,
		"wst":          `row.d`,
		"inner.deep.c": `scaled(row.c, 1, ",")`,
	})
	src.EventTime = `date(row.b, "YYYY-MM-DD")`
	src.Key = []string{"st", "i64"}
	return src
}

// exprSource maps columns a..e with the expressions the native path
// composes: trim, concatenation, string equality, a constant map indexed by
// a string, helpers over expressions, and functions called through their
// CEL bindings (timestamp, size, lowerAscii, double, int).
func exprSource() *sourcev1.Source {
	src := csvSource([]string{"a", "b", "c", "d", "e"}, map[string]string{
		"st":      `row.a.trim() + " " + row.b.trim()`,
		"color":   `{"rot": 1, "blau": 2, " x": 7}[row.c.trim()]`,
		"bo":      `row.d == "J"`,
		"ts":      `timestamp(row.e + "T00:00:00Z")`,
		"i64":     `scaled(row.c.trim(), 2, ",")`,
		"s32":     `size(row.a)`,
		"wst":     `row.b.lowerAscii()`,
		"u32":     `{"a": 1u, "b": 4294967296u}[row.a]`,
		"inner.a": `row["a"] + row.b + "!"`,
		"db":      `double(row.d)`,
		"secret":  `row.e.trim()`,
		"opt":     `int(row.d)`,
		"sf32":    `row.a != row["b"] ? 1 : 2`, // CEL only: a conditional
	})
	src.EventTime = `date(row.e.trim(), "YYYY-MM-DD")`
	src.Key = []string{"st", "color"}
	return src
}

// FuzzNativeMatchesCEL: the native path maps every record exactly as the
// CEL programs do: the same payload bytes, event time and key, or the same
// *MapError (field, column, message).
func FuzzNativeMatchesCEL(f *testing.F) {
	md := all(f)
	type pair struct{ fast, ref *mapping.Mapping }
	var pairs []pair
	for _, c := range []struct {
		src    *sourcev1.Source
		native int
	}{{nativeSource(), 13}, {exprSource(), 13}} {
		fast, err := mapping.Compile(c.src, md)
		if err != nil {
			f.Fatal(err)
		}
		if n := fast.NativeLeaves(); n != c.native {
			f.Fatalf("%d leaves native, want %d", n, c.native)
		}
		ref, err := mapping.CompileCEL(c.src, md)
		if err != nil {
			f.Fatal(err)
		}
		if n := ref.NativeLeaves(); n != 0 {
			f.Fatalf("the reference has %d native leaves", n)
		}
		pairs = append(pairs, pair{fast, ref})
	}
	header := []string{"a", "b", "c", "d", "e"}
	f.Add("x", "2026-12-07", "12,50", "3.25", "07.12.2026 10:00")
	f.Add("1", "2", "0,0000005", "18446744073709551615", "1,5")
	f.Add("", "", "", "", "")
	f.Add("-1.0005", "21474836.48", "1.234,5", "-3", "29.02.2023 23:59")
	f.Add("\xff", "1e3", " 1 000,5 ", "1'000.25", "31.03.2024 02:30")
	f.Add(" Alpenhof ", "Bergkäse\t", " rot ", "J", "2026-12-01")
	f.Add("a", "B", "blau", "2147483648", "2026-02-30")
	f.Add("b", "ÄÖ", " x", "-1.5e3", " 2026-12-01T00:00:00Z")
	f.Add("\u2003a\u00a0", "", "12,345", "NaN", "9999-12-31")
	f.Fuzz(func(t *testing.T, a, b, c, d, e string) {
		rec := read.Record{Header: header, Values: []string{a, b, c, d, e}, Line: 2}
		for _, p := range pairs {
			got, gerr := p.fast.Map(rec)
			want, werr := p.ref.Map(rec)
			var gme, wme *mapping.MapError
			if (gerr == nil) != (werr == nil) || (gerr != nil && (!errors.As(gerr, &gme) || !errors.As(werr, &wme) || *gme != *wme)) {
				t.Fatalf("native: %v\nCEL:    %v", gerr, werr)
			}
			if !bytes.Equal(got.Payload, want.Payload) || !got.EventTime.Equal(want.EventTime) || !slices.Equal(got.Key, want.Key) {
				t.Fatalf("native: %x %v %q\nCEL:    %x %v %q", got.Payload, got.EventTime, got.Key, want.Payload, want.EventTime, want.Key)
			}
		}
	})
}

// TestNativeMapsProductCatalogue: every field of the committed product
// catalogue that reads a column is computed natively.
func TestNativeMapsProductCatalogue(t *testing.T) {
	t.Parallel()
	if n := catalogue(t).NativeLeaves(); n != 7 {
		t.Fatalf("%d leaves native, want 7 (all but the constant and the column reads)", n)
	}
}

// TestNativeMapsHelpersOnColumns: a record the native path maps whole.
func TestNativeMapsHelpersOnColumns(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, nativeSource(), all(t))
	got, err := m.Map(read.Record{Header: []string{"a", "b", "c", "d", "e"}, Values: []string{"7", "2026-12-07", "12,50", "3.25", "07.12.2026 10:00"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.EventTime.Format("2006-01-02") != "2026-12-07" || !slices.Equal(got.Key, []string{"7", "12500000"}) {
		t.Fatalf("mapped %v %q", got.EventTime, got.Key)
	}
}
