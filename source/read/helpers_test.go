package read_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/read"
)

// memObject is an object held in memory.
type memObject struct {
	name string
	b    []byte
}

func (o memObject) Attrs() read.ObjectAttrs {
	return read.ObjectAttrs{URI: "mem://" + o.name, Name: o.name, Size: int64(len(o.b)), Created: time.Unix(0, 0)}
}

func (o memObject) NewRangeReader(_ context.Context, off, length int64) (io.ReadCloser, error) {
	if off > int64(len(o.b)) {
		off = int64(len(o.b))
	}
	end := int64(len(o.b))
	if length >= 0 && off+length < end {
		end = off + length
	}
	return io.NopCloser(bytes.NewReader(o.b[off:end])), nil
}

// genObject is an object whose bytes are produced as they are read: a
// prefix, then n copies of fill. Only reads from 0 are supported.
type genObject struct {
	prefix string
	fill   byte
	n      int64
}

func (o genObject) Attrs() read.ObjectAttrs {
	return read.ObjectAttrs{URI: "gen://", Name: "gen", Size: int64(len(o.prefix)) + o.n}
}

func (o genObject) NewRangeReader(_ context.Context, off, _ int64) (io.ReadCloser, error) {
	if off != 0 {
		return nil, errors.New("genObject reads from 0 only")
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader([]byte(o.prefix)), &fillReader{b: o.fill, n: o.n})), nil
}

type fillReader struct {
	b byte
	n int64
}

func (f *fillReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.n)]
	for i := range p {
		p[i] = f.b
	}
	f.n -= int64(len(p))
	return len(p), nil
}

func gz(t testing.TB, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, s := range parts { // one gzip member each
		w := gzip.NewWriter(&buf)
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func zst(t testing.TB, s string) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll([]byte(s), nil)
}

type entry struct{ name, body string }

func zipOf(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range es {
		f, err := w.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarGz(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := tar.NewWriter(zw)
	for _, e := range es {
		if err := w.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func csvSrc(cols ...string) *sourcev1.Source {
	return &sourcev1.Source{Name: "t", Format: &sourcev1.Format{Kind: &sourcev1.Format_Csv{Csv: &sourcev1.Csv{Columns: cols}}}}
}

func jsonSrc(array bool) *sourcev1.Source {
	return &sourcev1.Source{Name: "t", Format: &sourcev1.Format{Kind: &sourcev1.Format_Json{Json: &sourcev1.Json{Array: array}}}}
}

func parquetSrc(cols ...string) *sourcev1.Source {
	return &sourcev1.Source{Name: "t", Format: &sourcev1.Format{Kind: &sourcev1.Format_Parquet{Parquet: &sourcev1.Parquet{Columns: cols}}}}
}

func withGzip(s *sourcev1.Source) *sourcev1.Source {
	s.Compression = &sourcev1.Compression{Kind: &sourcev1.Compression_Gzip{Gzip: &sourcev1.Gzip{}}}
	return s
}

func withZstd(s *sourcev1.Source) *sourcev1.Source {
	s.Compression = &sourcev1.Compression{Kind: &sourcev1.Compression_Zstd{Zstd: &sourcev1.Zstd{}}}
	return s
}

func withZip(s *sourcev1.Source, pattern string) *sourcev1.Source {
	s.Compression = &sourcev1.Compression{Kind: &sourcev1.Compression_Zip{Zip: &sourcev1.Archive{EntryPattern: pattern}}}
	return s
}

func withTarGz(s *sourcev1.Source, pattern string) *sourcev1.Source {
	s.Compression = &sourcev1.Compression{Kind: &sourcev1.Compression_TarGz{TarGz: &sourcev1.Archive{EntryPattern: pattern}}}
	return s
}

// result is everything a read produced.
type result struct {
	recs    []read.Record
	rejects []*read.RecordError
	err     error // the error that ended it (nil: io.EOF)
	n       int   // records read (only the first maxKept are in recs)
}

const maxKept = 10000

func readAll(t testing.TB, obj read.Object, src *sourcev1.Source, lim read.Limits) result {
	t.Helper()
	ctx := context.Background()
	r, err := read.Open(ctx, obj, src, lim)
	if err != nil {
		return result{err: err}
	}
	defer r.Close()
	var res result
	for {
		rec, err := r.Next(ctx)
		if err == io.EOF {
			return res
		}
		var re *read.RecordError
		if errors.As(err, &re) {
			res.rejects = append(res.rejects, re)
			continue
		}
		if err != nil {
			res.err = err
			return res
		}
		res.n++
		if len(res.recs) < maxKept { // a bomb of records must not fill the test's memory
			res.recs = append(res.recs, rec)
		}
	}
}

type sourceT = sourcev1.Source

func csv(cols ...string) func() *sourceT { return func() *sourceT { return csvSrc(cols...) } }
func js(array bool) func() *sourceT      { return func() *sourceT { return jsonSrc(array) } }
func pq(cols ...string) func() *sourceT  { return func() *sourceT { return parquetSrc(cols...) } }
func gzipped(f func() *sourceT) func() *sourceT {
	return func() *sourceT { return withGzip(f()) }
}
func zstded(f func() *sourceT) func() *sourceT {
	return func() *sourceT { return withZstd(f()) }
}
func zipped(f func() *sourceT) func() *sourceT {
	return func() *sourceT { return withZip(f(), "") }
}
func zippedAs(f func() *sourceT, pattern string) func() *sourceT {
	return func() *sourceT { return withZip(f(), pattern) }
}
func tarred(f func() *sourceT) func() *sourceT {
	return func() *sourceT { return withTarGz(f(), "") }
}
func skipping(f func() *sourceT, n uint32) func() *sourceT {
	return func() *sourceT { s := f(); s.GetFormat().GetCsv().SkipLines = n; return s }
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
