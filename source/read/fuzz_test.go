package read_test

import (
	"context"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/hemlabs/hem/source/read"
)

// fuzzLimits are small, so that the limits' paths are taken too.
var fuzzLimits = read.Limits{MaxRecordBytes: 512, MaxEntries: 8, MaxDecompressedBytes: 1 << 20}

// fuzzObject places data in a larger buffer followed by other bytes: the
// object is the slice, and nothing may read past it.
func fuzzObject(data []byte) read.Object {
	buf := make([]byte, len(data), len(data)+64)
	copy(buf, data)
	buf = append(buf, "\"trailing,bytes\n{\"x\":1}]\x00\xff"...)
	return memObject{"fuzz", buf[:len(data)]}
}

// checkRead reads obj to its end and checks what holds for every input:
// only *RecordError, *FileError or io.EOF; a *FileError is final; numbers
// count every record, rejected ones too; lines only go forward in an entry.
func checkRead(t *testing.T, obj read.Object, src *sourceT, each func(read.Record)) {
	ctx := context.Background()
	r, err := read.Open(ctx, obj, src, fuzzLimits)
	if err != nil {
		var fe *read.FileError
		if !errors.As(err, &fe) || fe.Reason == "" {
			t.Fatalf("Open: %v, want a *FileError", err)
		}
		return
	}
	defer r.Close()
	var number int64
	var entry string
	var line int64
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatal("more than a million records from a fuzz input")
		}
		rec, err := r.Next(ctx)
		if err == io.EOF {
			return
		}
		var re *read.RecordError
		var fe *read.FileError
		switch {
		case errors.As(err, &re):
			rec = re.Record
		case errors.As(err, &fe):
			if fe.Reason == "" {
				t.Fatal("a *FileError without a reason")
			}
			if _, again := r.Next(ctx); again != err {
				t.Fatalf("after %v, Next returned %v", err, again)
			}
			return
		case err != nil:
			t.Fatalf("Next: %v (%T), want a *RecordError or a *FileError", err, err)
		}
		if rec.Number != number {
			t.Fatalf("record number %d, want %d", rec.Number, number)
		}
		number++
		if rec.Entry != entry {
			entry, line = rec.Entry, 0
		}
		if rec.Line < 1 || rec.Line < line {
			t.Fatalf("line %d after line %d", rec.Line, line)
		}
		line = rec.Line
		if !utf8.Valid(rec.Raw) {
			t.Fatalf("raw bytes not UTF-8: %q", rec.Raw)
		}
		if int64(len(rec.Raw)) > fuzzLimits.MaxRecordBytes+64<<10 {
			t.Fatalf("a record of %d bytes passed a limit of %d", len(rec.Raw), fuzzLimits.MaxRecordBytes)
		}
		if err == nil && each != nil {
			each(rec)
		}
	}
}

// checkCSVRecord: the values are UTF-8, one per header column, and the raw
// line parses back to them (ended as a line: csv drops a final "\r" at the
// end of its input, not before "\r\n").
func checkCSVRecord(t *testing.T) func(read.Record) {
	return func(rec read.Record) {
		if len(rec.Values) != len(rec.Header) {
			t.Fatalf("%d values for %d columns", len(rec.Values), len(rec.Header))
		}
		for _, v := range rec.Values {
			if !utf8.ValidString(v) {
				t.Fatalf("value not UTF-8: %q", v)
			}
		}
		back, err := stdcsv.NewReader(bytesReader(append(slices.Clip(rec.Raw), '\r', '\n'))).Read()
		if err != nil || !slices.Equal(back, rec.Values) {
			t.Fatalf("raw %q parses back to %q (%v), not %q", rec.Raw, back, err, rec.Values)
		}
	}
}

func checkObject(t *testing.T) func(read.Record) {
	return func(rec read.Record) {
		if rec.Object == nil {
			t.Fatalf("a JSON record without an object: %q", rec.Raw)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte(catalogue))
	f.Add([]byte("\xEF\xBB\xBFa,b\n1,2\n\"x\ny\",3\n4\n"))
	f.Add([]byte("a,b\n1,\"2\n"))
	f.Add([]byte("a\n\"\"\"\"\r\n\r\n1\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRead(t, fuzzObject(data), csvSrc("a"), checkCSVRecord(t))
	})
}

func FuzzReadNDJSON(f *testing.F) {
	f.Add([]byte(orders))
	f.Add([]byte("{\"a\":1}\n[1]\n\n{\"a\":\n"))
	f.Add([]byte("\xEF\xBB\xBF{\"a\":\"\\u00e9\"}\r\n{} {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRead(t, fuzzObject(data), jsonSrc(false), checkObject(t))
	})
}

func FuzzReadJSONArray(f *testing.F) {
	f.Add([]byte(`[{"id": 1, "total": 10.50}, {"id": 2}, 3, {"a": [1, {"b": null}]}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"a":1},`))
	f.Add([]byte("\xEF\xBB\xBF [\n{\"a\":\"x\"}\n] "))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRead(t, fuzzObject(data), jsonSrc(true), checkObject(t))
	})
}

func FuzzReadZip(f *testing.F) {
	f.Add(zipOf(f, entry{"b.csv", "a\n1\n"}, entry{"a.csv", catalogue}, entry{"c.txt", "x"}))
	f.Add(zipOf(f, entry{"a.csv", ""}))
	f.Add(zipOf(f, entry{"dir/", ""}, entry{"dir/a.csv", "a,b\n1\n"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRead(t, fuzzObject(data), withZip(csvSrc("a"), "*.csv"), checkCSVRecord(t))
	})
}

func FuzzReadGzip(f *testing.F) {
	f.Add(gz(f, "a\n1\n", "2\n"))
	f.Add(gz(f, orders))
	f.Add(gz(f, ""))
	f.Add(tarGz(f, entry{"a.csv", "a\n1\n"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRead(t, fuzzObject(data), withGzip(csvSrc("a")), checkCSVRecord(t))
		checkRead(t, fuzzObject(data), withTarGz(csvSrc("a"), ""), checkCSVRecord(t))
	})
}
