package mapping_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

// FuzzMapRecord maps random column values through a fixed mapping that
// touches every kind of field, column reads and the helpers: Map never
// panics, and gives either a *MapError or a payload that decodes and is
// its own deterministic encoding.
func FuzzMapRecord(f *testing.F) {
	md := all(f)
	header := []string{"a", "b", "c", "d", "e"}
	m := mustCompile(f, csvSource(header, map[string]string{
		"i32":          "a",
		"u64":          "b",
		"fl":           "c",
		"color":        "d",
		"ts":           "e",
		"st":           `row.a.trim() + "/" + row.b.lowerAscii()`,
		"by":           "row.c",
		"i64":          `scaled(row.c, 6, ",")`,
		"db":           `decimal(row.d, ".")`,
		"times":        `[date(row.e, "DD.MM.YYYY HH:mm", "Europe/Berlin")]`,
		"tags":         `row.a.split("|")`,
		"nums":         `row.b.split(",").map(x, int(x))`,
		"opt":          `row.a == "" ? optional.none() : optional.of(int(row.a))`,
		"wi32":         `size(row.b)`,
		"inner.deep.c": `int(row.d)`,
		"colors":       `row.d.split(",")`,
		"secret":       `row.e`,
	}), md)
	f.Add("1", "2", "3,5", "RED", "2026-12-07T00:00:00Z")
	f.Add("-2147483648", "18446744073709551615", "1e38", "2", "07.12.2026 10:00")
	f.Add("", "", "", "", "")
	f.Add("a|b", "1,2,3", "0,0000005", "COLOR_DARK_BLUE", "29.02.2024 23:59")
	f.Add("\xff", "x", "-", "9999999999", "0000-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, a, b, c, d, e string) {
		got, err := m.Map(read.Record{Header: header, Values: []string{a, b, c, d, e}})
		if err != nil {
			if !errors.As(err, new(*mapping.MapError)) {
				t.Fatalf("Map: %v is not a *MapError", err)
			}
			return
		}
		msg := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(got.Payload, msg); err != nil {
			t.Fatalf("payload %x does not decode: %v", got.Payload, err)
		}
		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil || string(again) != string(got.Payload) {
			t.Fatalf("payload %x is not the deterministic encoding %x (%v)", got.Payload, again, err)
		}
	})
}
