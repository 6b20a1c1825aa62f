package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// The _attributes column holds what json.Marshal writes, whether or not
// the plain path wrote it.
func TestAttributesAreJSONMarshal(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range 20 {
		many[fmt.Sprintf("k%02d", 19-i)] = fmt.Sprint(i)
	}
	for _, attrs := range []map[string]string{
		nil,
		{},
		{"k": "v"},
		{"b": "2", "a": "1", "": ""},
		many,
		{"hem-source-line": "12", "quote": `say "hi"`},
		{"path": `C:\dir`, "html": "<a>&</a>", "ctl": "a\nb\tc\x01", "del": "\x7f"},
		{"é": "ünïcode", "bad": "\xff\xfe", "sep": "\u2028\u2029"},
	} {
		got, err := appendAttributes([]byte("prefix"), attrs)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(attrs)
		if len(attrs) == 0 {
			want = []byte("{}")
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("attributes %q: got %s, want prefix%s", attrs, got, want)
		}
	}
}

func FuzzAttributesAreJSONMarshal(f *testing.F) {
	f.Add("k", "v", "a", "b")
	f.Add("<", "&", `"`, `\`)
	f.Add("\xff", "\u2028", "", "\x00")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		attrs := map[string]string{k1: v1, k2: v2}
		got, err := appendAttributes([]byte("x"), attrs)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(attrs)
		if !bytes.Equal(got[1:], want) {
			t.Fatalf("attributes %q: got %s, want %s", attrs, got[1:], want)
		}
	})
}
