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

// FuzzNativeMatchesCEL: the native path maps every record exactly as the
// CEL programs do: the same payload bytes, event time and key, or the same
// *MapError (field, column, message).
func FuzzNativeMatchesCEL(f *testing.F) {
	md := all(f)
	fast, err := mapping.Compile(nativeSource(), md)
	if err != nil {
		f.Fatal(err)
	}
	if n := fast.NativeLeaves(); n != 13 {
		f.Fatalf("%d leaves native, want 13", n)
	}
	ref, err := mapping.CompileCEL(nativeSource(), md)
	if err != nil {
		f.Fatal(err)
	}
	if n := ref.NativeLeaves(); n != 0 {
		f.Fatalf("the reference has %d native leaves", n)
	}
	header := []string{"a", "b", "c", "d", "e"}
	f.Add("x", "2026-12-07", "12,50", "3.25", "07.12.2026 10:00")
	f.Add("1", "2", "0,0000005", "18446744073709551615", "1,5")
	f.Add("", "", "", "", "")
	f.Add("-1.0005", "21474836.48", "1.234,5", "-3", "29.02.2023 23:59")
	f.Add("\xff", "1e3", " 1 000,5 ", "1'000.25", "31.03.2024 02:30")
	f.Fuzz(func(t *testing.T, a, b, c, d, e string) {
		rec := read.Record{Header: header, Values: []string{a, b, c, d, e}, Line: 2}
		got, gerr := fast.Map(rec)
		want, werr := ref.Map(rec)
		var gme, wme *mapping.MapError
		if (gerr == nil) != (werr == nil) || (gerr != nil && (!errors.As(gerr, &gme) || !errors.As(werr, &wme) || *gme != *wme)) {
			t.Fatalf("native: %v\nCEL:    %v", gerr, werr)
		}
		if !bytes.Equal(got.Payload, want.Payload) || !got.EventTime.Equal(want.EventTime) || !slices.Equal(got.Key, want.Key) {
			t.Fatalf("native: %x %v %q\nCEL:    %x %v %q", got.Payload, got.EventTime, got.Key, want.Payload, want.EventTime, want.Key)
		}
	})
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
