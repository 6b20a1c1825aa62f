package read_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hemlabs/hem/source/read"
)

// rowsObject is a CSV object of a header and n copies of row, produced as
// it is read (gzipped on the fly with gz): no test memory grows with n.
type rowsObject struct {
	header, row string
	n           int64
	gz          bool
}

func (o rowsObject) Attrs() read.ObjectAttrs {
	return read.ObjectAttrs{URI: "gen://rows", Name: "rows", Size: int64(len(o.header)) + o.n*int64(len(o.row))}
}

func (o rowsObject) NewRangeReader(ctx context.Context, off, _ int64) (io.ReadCloser, error) {
	if off != 0 {
		return nil, errors.New("rowsObject reads from 0 only")
	}
	rows := io.MultiReader(strings.NewReader(o.header), &repeatReader{s: o.row, n: o.n})
	if !o.gz {
		return io.NopCloser(rows), nil
	}
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		_, err := io.Copy(zw, rows)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

type repeatReader struct {
	s   string
	n   int64
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:], r.s[r.off:])
		k += c
		r.off += c
		if r.off == len(r.s) {
			r.off = 0
			r.n--
		}
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

// TestReadBoundedMemory streams a large catalogue: the heap stays flat,
// whatever the size (the README has the figures).
func TestReadBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 512 MiB")
	}
	header := "product_id,sku,product_name,brand,category,price_eur,currency,stock,updated_on,description\n"
	row := "100042,SKU-0000042,\"Steel anvil, 42 kg\",Acme,tools/hand,42.42,EUR,42,2026-12-07,\"Forged, heat-treated; model 42\"\n"
	n := int64(512<<20) / int64(len(row))
	for _, gz := range []bool{false, true} {
		name := "plain"
		src := csvSrc("sku")
		if gz {
			name = "gzip"
			src = withGzip(src)
		}
		t.Run(name, func(t *testing.T) {
			var res result
			peak := peakHeap(func() { res = readAll(t, rowsObject{header: header, row: row, n: n, gz: gz}, src, read.Limits{}) })
			if res.err != nil || int64(res.n) != n {
				t.Fatalf("read %d of %d records: %v", res.n, n, res.err)
			}
			// The growth includes the maxKept records readAll keeps and
			// garbage the collector has not taken yet.
			t.Logf("%d records (512 MiB): peak heap growth %.1f MiB", n, float64(peak)/(1<<20))
			if peak > 48<<20 {
				t.Errorf("the heap grew by %d MiB reading 512 MiB", peak>>20)
			}
		})
	}
}
