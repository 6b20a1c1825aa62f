package spec_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hemlabs/hem/source/spec"
)

// FuzzParse feeds Parse arbitrary bytes. The bytes sit at the start of a
// larger buffer whose tail Parse must neither read into a declaration nor
// write: Parse gets the slice with its spare capacity, and the tail is
// checked after. Parse must not panic, and every problem has a line.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	samples, _ := filepath.Glob("../../sources/*.yaml")
	for _, s := range samples {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: &a x\nsubject: *a\n"))
	f.Add([]byte("a: [\n"))
	f.Add([]byte("fields: {a: 1, a: 2}\nkey: [1, {x: y}]\n"))
	f.Add([]byte("max_rejected_share: 1e400\nformat: {csv: {skip_lines: 99999999999999999999}}\n"))
	f.Add([]byte("<<: {name: x}\n"))
	tail := []byte("\nsubject: trailing.Bytes\n\x00\xff")
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]byte, len(data), len(data)+len(tail))
		copy(buf, data)
		buf = append(buf, tail...)
		in := buf[:len(data)]
		orig := bytes.Clone(buf)
		decl, err := spec.Parse("f.yaml", in)
		if !bytes.Equal(buf, orig) {
			t.Fatal("Parse wrote into its input or past it")
		}
		if err == nil {
			if decl == nil || decl.Source == nil {
				t.Fatal("no error and no declaration")
			}
			if decl.Source.GetSubject() == "trailing.Bytes" && !bytes.Contains(data, []byte("trailing.Bytes")) {
				t.Fatal("Parse read past its input")
			}
			return
		}
		var es spec.Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T %v: want spec.Errors", err, err)
		}
		for _, e := range es {
			if e.Line < 1 || e.File != "f.yaml" || e.Message == "" {
				t.Fatalf("problem without a line or message: %#v", e)
			}
		}
	})
}
