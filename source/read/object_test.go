package read_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/source/read"
)

func newBucket(t *testing.T) *storage.BucketHandle {
	t.Helper()
	return localgcstest.Client(t, "landing").Bucket("landing")
}

func put(t *testing.T, b *storage.BucketHandle, name string, data []byte) int64 {
	t.Helper()
	w := b.Object(name).NewWriter(t.Context())
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Attrs().Generation
}

func rowsCSV(n int) string {
	var sb strings.Builder
	sb.WriteString("sku,name,price\n")
	for i := range n {
		fmt.Fprintf(&sb, "SKU-%06d,Product number %d,%d.99\n", i, i, i%100)
	}
	return sb.String()
}

func TestGCSObject(t *testing.T) {
	defer read.SetGCSWindow(64 << 10)()
	b := newBucket(t)
	data := rowsCSV(20000) // about 800 KiB: a dozen windows
	gen := put(t, b, "catalogue/2026-12-07.csv", []byte(data))
	ctx := t.Context()

	obj, err := read.GCSObject(ctx, b, "catalogue/2026-12-07.csv", gen)
	if err != nil {
		t.Fatal(err)
	}
	a := obj.Attrs()
	if a.URI != "gs://landing/catalogue/2026-12-07.csv" || a.Bucket != "landing" || a.Name != "catalogue/2026-12-07.csv" ||
		a.Generation != gen || a.Size != int64(len(data)) || len(a.MD5) != 32 || len(a.CRC32C) != 8 || a.Created.IsZero() {
		t.Errorf("attrs %+v", a)
	}
	res := readAll(t, obj, csvSrc("sku"), read.Limits{})
	if res.err != nil || res.n != 20000 {
		t.Fatalf("read %d records, %v; want 20000", res.n, res.err)
	}
	if r := res.recs[9999]; r.Values[0] != "SKU-009999" || r.Line != 10001 || r.Number != 9999 {
		t.Errorf("record 9999: %s", summary(r))
	}

	current, err := read.GCSObject(ctx, b, "catalogue/2026-12-07.csv", 0)
	if err != nil || current.Attrs().Generation != gen {
		t.Errorf("generation 0 pins %v, %v; want %d", current, err, gen)
	}
	if _, err := read.GCSObject(ctx, b, "catalogue/nothing.csv", 0); !errors.Is(err, read.ErrObjectGone) {
		t.Errorf("a missing object: %v, want ErrObjectGone", err)
	}

	zipGen := put(t, b, "stock.zip", zipOf(t, entry{"b.csv", data}, entry{"a.csv", data}))
	zobj, err := read.GCSObject(ctx, b, "stock.zip", zipGen)
	if err != nil {
		t.Fatal(err)
	}
	res = readAll(t, zobj, withZip(csvSrc("sku"), "*.csv"), read.Limits{})
	if res.err != nil || res.n != 40000 || res.recs[0].Entry != "a.csv" {
		t.Fatalf("zip over range reads: %d records, %v", res.n, res.err)
	}

	pqGen := put(t, b, "stock.parquet", parquetFile(t))
	pobj, err := read.GCSObject(ctx, b, "stock.parquet", pqGen)
	if err != nil {
		t.Fatal(err)
	}
	res = readAll(t, pobj, parquetSrc("sku"), read.Limits{})
	if res.err != nil || res.n != 2 || res.recs[1].Object["sku"] != "B2" {
		t.Fatalf("parquet over range reads: %v, %v", summaries(res.recs), res.err)
	}
}

// TestObjectGoneWhileLoading deletes or replaces the object after its first
// records were read: the read fails as a whole, saying so.
func TestObjectGoneWhileLoading(t *testing.T) {
	defer read.SetGCSWindow(64 << 10)()
	b := newBucket(t)
	data := []byte(rowsCSV(20000))
	tests := []struct {
		name string
		src  *sourceT
		data []byte
		gone func(name string)
	}{
		{"deleted", csvSrc("sku"), data, func(name string) {
			if err := b.Object(name).Delete(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced", csvSrc("sku"), data, func(name string) { put(t, b, name, []byte("sku\nnew\n")) }},
		{"deleted zip", withZip(csvSrc("sku"), ""), zipOf(t, entry{"a.csv", string(data)}), func(name string) {
			if err := b.Object(name).Delete(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "gone/" + tt.name
			gen := put(t, b, name, tt.data)
			ctx := t.Context()
			obj, err := read.GCSObject(ctx, b, name, gen)
			if err != nil {
				t.Fatal(err)
			}
			r, err := read.Open(ctx, obj, tt.src, read.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for range 10 {
				if _, err := r.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			tt.gone(name)
			n := 10
			for {
				_, err = r.Next(ctx)
				if err != nil {
					break
				}
				n++
			}
			var fe *read.FileError
			if !errors.As(err, &fe) || fe.Reason != "object was deleted or replaced while loading" || !errors.Is(err, read.ErrObjectGone) {
				t.Fatalf("after %d records: %v, want a *FileError wrapping ErrObjectGone", n, err)
			}
			if n >= 20000 {
				t.Errorf("read all %d records of an object deleted while loading", n)
			}
		})
	}
}

func TestFileObject(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "catalogue.csv")
	if err := os.WriteFile(path, []byte(catalogue), 0o600); err != nil {
		t.Fatal(err)
	}
	obj, err := read.FileObject(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := obj.Attrs(); a.URI != "file://"+path || a.Name != "catalogue.csv" || a.Size != int64(len(catalogue)) || a.Bucket != "" ||
		a.CRC32C != fmt.Sprintf("%08x", crc32.Checksum([]byte(catalogue), crc32.MakeTable(crc32.Castagnoli))) {
		t.Errorf("attrs %+v", a)
	}
	res := readAll(t, obj, csvSrc("sku"), read.Limits{})
	if got := summaries(res.recs); res.err != nil || strings.Join(got, "\n") != strings.Join(catalogueWant, "\n") {
		t.Errorf("read %v, %v", got, res.err)
	}
	// The generation is the content's: the same bytes again are the same
	// object, edited ones (even of the same size) another.
	again, err := read.FileObject(path)
	if err != nil || again.Attrs().Generation != obj.Attrs().Generation || obj.Attrs().Generation == 0 {
		t.Errorf("the same file again: generation %d, first %d (%v)", again.Attrs().Generation, obj.Attrs().Generation, err)
	}
	edited := strings.Replace(catalogue, "1", "2", 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := read.FileObject(path); err != nil || e.Attrs().Generation == obj.Attrs().Generation {
		t.Errorf("an edited file of the same size kept generation %d (%v)", obj.Attrs().Generation, err)
	}
	// Changed after it was taken: gone, as a replaced GCS object.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := read.Open(t.Context(), obj, csvSrc("sku"), read.Limits{}); !errors.Is(err, read.ErrObjectGone) {
		t.Errorf("a changed file: %v, want ErrObjectGone", err)
	}
	if _, err := read.FileObject(filepath.Join(t.TempDir(), "none.csv")); !errors.Is(err, read.ErrObjectGone) {
		t.Errorf("a missing file: %v, want ErrObjectGone", err)
	}
}
