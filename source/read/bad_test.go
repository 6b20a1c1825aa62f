package read_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"

	"github.com/hemlabs/hem/source/read"
)

// bombSize is how much a bomb inflates to.
const bombSize = 100 << 20

// deflated returns bombSize bytes of repeated unit, deflated.
func deflated(unit string) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	chunk := []byte(strings.Repeat(unit, (1<<20)/len(unit)))
	for range bombSize >> 20 {
		_, _ = w.Write(chunk)
	}
	_ = w.Close()
	return buf.Bytes()
}

// zeros are zero bytes (binary data: they fail as text at once); rows are
// the valid CSV rows of "aaa…" (they fail when they pass the ratio).
var (
	row   = strings.Repeat("a", 1023) + "\n"
	zeros = sync.OnceValue(func() []byte { return deflated("\x00") })
	rows  = sync.OnceValue(func() []byte { return deflated(row) })
)

// gzipBomb is a gzip member of a bomb.
func gzipBomb(d []byte) []byte {
	var buf bytes.Buffer
	buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	buf.Write(d)
	var tail [8]byte
	crc := crc32.Update(0, crc32.IEEETable, make([]byte, 0)) // the checksum is never reached
	tail[0], tail[1], tail[2], tail[3] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	buf.Write(tail[:])
	return buf.Bytes()
}

// zipBomb is a zip whose one entry inflates d and declares declared bytes.
func zipBomb(t testing.TB, d []byte, declared uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.CreateRaw(&zip.FileHeader{Name: "stock.csv", Method: zip.Deflate, CompressedSize64: uint64(len(d)), UncompressedSize64: declared})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(d); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// manyEntries is a zip whose end record declares 65534 entries (its
// directory holds one): the count is refused before archive/zip loads the
// directory.
func manyEntries(t testing.TB) []byte {
	b := zipOf(t, entry{"a.csv", "a\n1\n"})
	i := bytes.LastIndex(b, []byte("PK\x05\x06"))
	b[i+8], b[i+9], b[i+10], b[i+11] = 0xFE, 0xFF, 0xFE, 0xFF
	return b
}

func binary() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestReadBadInput(t *testing.T) {
	t.Parallel()
	many := func(n int) []entry {
		var es []entry
		for i := range n {
			es = append(es, entry{name: strings.Repeat("x", i+1) + ".csv", body: "a\n1\n"})
		}
		return es
	}
	big := strings.Repeat("A1,Anvil,10\n", 20000)
	truncated := gz(t, "sku,name,price\n"+big)
	corrupt := bytes.Clone(truncated)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x55
	}
	small := read.Limits{MaxRecordBytes: 100}
	tests := []struct {
		name   string
		obj    read.Object
		src    func() *sourceT
		lim    read.Limits
		reason string
	}{
		{"binary data as csv", memObject{"x.csv", binary()}, csv("sku"), read.Limits{}, "line 1 is not valid UTF-8"},
		{"binary data with NUL bytes as csv", memObject{"x.csv", []byte("sku\nA1\x00\x00\x01\x02\n")}, csv("sku"), read.Limits{}, "line 2 holds a NUL byte: binary data, not text"},
		{"gzip data declared plain", memObject{"x.csv", gz(t, "sku\nA1\n")}, csv("sku"), read.Limits{}, "the object is gzip data, but its declaration names no compression"},
		{"zip declared plain", memObject{"x.csv", zipOf(t, entry{"a", "b"})}, csv("sku"), read.Limits{}, "the object is a zip archive, but its declaration names no compression"},
		{"plain text declared gzip", memObject{"x.csv.gz", []byte("sku\nA1\n")}, gzipped(csv("sku")), read.Limits{}, "not gzip data"},
		{"truncated gzip", memObject{"x.csv.gz", truncated[:len(truncated)/2]}, gzipped(csv("sku")), read.Limits{}, "truncated gzip stream"},
		{"gzip cut in its trailer", memObject{"x.csv.gz", truncated[:len(truncated)-3]}, gzipped(csv("sku")), read.Limits{}, "truncated gzip stream"},
		{"corrupt gzip", memObject{"x.csv.gz", corrupt}, gzipped(csv("sku")), read.Limits{}, "gzip"},
		{"truncated zstd", memObject{"x.csv.zst", zst(t, "sku\n"+big)[:100]}, zstded(csv("sku")), read.Limits{}, "zstd"},
		{"plain text declared zstd", memObject{"x.csv.zst", []byte("sku\nA1\n")}, zstded(csv("sku")), read.Limits{}, "not zstd data"},
		{"zip bomb declaring its size", memObject{"x.zip", zipBomb(t, zeros(), 1<<40)}, zipped(csv("a")), read.Limits{}, "entry stock.csv declares 1 TiB, more than the 256 GiB allowed (a zip bomb?)"},
		{"zip bomb declaring a small size", memObject{"x.zip", zipBomb(t, rows(), 100)}, zipped(csv("a")), read.Limits{}, "entry stock.csv is corrupt (or larger than it declares)"},
		{"zip of zeros", memObject{"x.zip", zipBomb(t, zeros(), bombSize)}, zipped(csv("a")), read.Limits{}, "entry stock.csv: line 1 holds a NUL byte: binary data, not text"},
		{"zip of rows", memObject{"x.zip", zipBomb(t, rows(), bombSize)}, zipped(csv(row[:1023])), read.Limits{}, "entry stock.csv: the object decompresses to more than 200 times its size (a zip bomb?)"},
		{"gzip of zeros", memObject{"x.gz", gzipBomb(zeros())}, gzipped(csv("a")), read.Limits{}, "line 1 holds a NUL byte: binary data, not text"},
		{"gzip of rows", memObject{"x.gz", gzipBomb(rows())}, gzipped(csv(row[:1023])), read.Limits{}, "the object decompresses to more than 200 times its size (a zip bomb?)"},
		{"zstd of rows", memObject{"x.zst", zst(t, strings.Repeat(row, bombSize/len(row)))}, zstded(csv(row[:1023])), read.Limits{}, "the object decompresses to more than 200 times its size (a zip bomb?)"},
		{"gzip past the decompressed limit", memObject{"x.gz", gz(t, "sku\n"+big)}, gzipped(csv("sku")), read.Limits{MaxDecompressedBytes: 1000}, "the object decompresses to more than 1000 bytes"},
		{"too many zip entries", memObject{"x.zip", zipOf(t, many(5)...)}, zipped(csv("a")), read.Limits{MaxEntries: 3}, "the archive has 5 entries, more than 3"},
		{"zip declaring too many entries", memObject{"x.zip", manyEntries(t)}, zipped(csv("a")), read.Limits{}, "the archive has 65534 entries, more than 10000"},
		{"too many tar entries", memObject{"x.tgz", tarGz(t, many(5)...)}, tarred(csv("a")), read.Limits{MaxEntries: 3}, "the archive has more than 3 entries"},
		{"zip without a matching entry", memObject{"x.zip", zipOf(t, entry{"a.txt", "a\n"})}, zippedAs(csv("a"), "*.csv"), read.Limits{}, `the archive holds no entry matching "*.csv"`},
		{"invalid UTF-8", memObject{"x.csv", []byte("sku,name\nA1,Anvil\nB2,Bo\xffl\n")}, csv("sku"), read.Limits{}, "line 3 is not valid UTF-8"},
		{"invalid UTF-8 in a gzip", memObject{"x.csv.gz", gz(t, "sku,name\nA1,Anvil\nB2,Bo\xc3l\n")}, gzipped(csv("sku")), read.Limits{}, "line 3 is not valid UTF-8"},
		{"UTF-8 cut at the end", memObject{"x.csv", []byte("sku\nA1\xc3")}, csv("sku"), read.Limits{}, "line 2 is not valid UTF-8"},
		{"UTF-8 cut at the end after a bare quote", memObject{"x.csv", []byte("a\n0\"\xe8")}, csv("a"), read.Limits{}, "line 2 is not valid UTF-8"},
		{"invalid UTF-8 in ndjson", memObject{"x.json", []byte("{\"a\":1}\n{\"a\":\"\xff\"}\n")}, js(false), read.Limits{}, "line 2 is not valid UTF-8"},
		{"invalid UTF-8 in a zip entry", memObject{"x.zip", zipOf(t, entry{"a.csv", "sku\n\xff\n"})}, zipped(csv("sku")), read.Limits{}, "entry a.csv: line 2 is not valid UTF-8"},
		{"header lacking columns", memObject{"x.csv", []byte("sku,name\nA1,Anvil\n")}, csv("sku", "designation", "price"), read.Limits{}, "header lacks columns designation, price"},
		{"header lacking a column", memObject{"x.csv", []byte("sku,name\nA1,Anvil\n")}, csv("price"), read.Limits{}, "header lacks column price"},
		{"parquet lacking a column", memObject{"x.parquet", parquetFile(t)}, pq("sku", "name"), read.Limits{}, "the Parquet schema lacks column name"},
		{"csv declared parquet", memObject{"x.parquet", []byte("sku\nA1\n")}, pq("sku"), read.Limits{}, "not a Parquet file"},
		{"empty file", memObject{"x.csv", nil}, csv("sku"), read.Limits{}, "empty file"},
		{"empty gzip object", memObject{"x.csv.gz", nil}, gzipped(csv("sku")), read.Limits{}, "empty file"},
		{"gzip of nothing", memObject{"x.csv.gz", gz(t, "")}, gzipped(csv("sku")), read.Limits{}, "empty file"},
		{"empty zstd object", memObject{"x.csv.zst", nil}, zstded(csv("sku")), read.Limits{}, "empty file"},
		{"empty zip object", memObject{"x.zip", nil}, zipped(csv("sku")), read.Limits{}, "empty file"},
		{"empty zip entry", memObject{"x.zip", zipOf(t, entry{"a.csv", ""})}, zipped(csv("sku")), read.Limits{}, "entry a.csv: empty file"},
		{"empty ndjson", memObject{"x.json", []byte("\n\n")}, js(false), read.Limits{}, "empty file"},
		{"empty json array object", memObject{"x.json", nil}, js(true), read.Limits{}, "empty file"},
		{"empty parquet", memObject{"x.parquet", nil}, pq("sku"), read.Limits{}, "empty file"},
		{"only skipped lines", memObject{"x.csv", []byte("title\n\n")}, skipping(csv("sku"), 2), read.Limits{}, "no header line after the 2 lines skipped"},
		{"json object, not an array", memObject{"x.json", []byte(`{"a":1}`)}, js(true), read.Limits{}, "not a JSON array"},
		{"json array cut short", memObject{"x.json", []byte(`[{"a":1}, {"a":`)}, js(true), read.Limits{}, "the JSON array ends early (after element 1)"},
		{"json array with data after it", memObject{"x.json", []byte(`[{"a":1}] [`)}, js(true), read.Limits{}, "data after the JSON array"},
		{"long csv line", memObject{"x.csv", []byte("sku\nA1\n" + strings.Repeat("x", 101) + "\n")}, csv("sku"), small, "line 3 is longer than 100 bytes"},
		{"long csv header", memObject{"x.csv", []byte(strings.Repeat("x", 101) + "\n")}, csv("sku"), small, "line 1 is longer than 100 bytes"},
		{"long skipped line", memObject{"x.csv", []byte(strings.Repeat("x", 101) + "\nsku\n")}, skipping(csv("sku"), 1), small, "line 1 is longer than 100 bytes"},
		{"unclosed quote", memObject{"x.csv", []byte("sku\nA1\n\"B2\n" + strings.Repeat("x\n", 100000))}, csv("sku"), small, "the record starting on line 3 is longer than 100 bytes (an unclosed quote?)"},
		{"long ndjson line", memObject{"x.json", []byte("{}\n{\"a\":\"" + strings.Repeat("x", 200) + "\"}\n")}, js(false), small, "line 2 is longer than 100 bytes"},
		{"long json array element", memObject{"x.json", []byte("[{},\n{\"a\":\"" + strings.Repeat("x\\n", 100000) + "\"}]")}, js(true), small, "array element 2 is longer than 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := readAll(t, tt.obj, tt.src(), tt.lim)
			var fe *read.FileError
			if !errors.As(res.err, &fe) {
				t.Fatalf("got %v (%d records, %d rejected), want a *FileError", res.err, len(res.recs), len(res.rejects))
			}
			if !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", fe.Reason, tt.reason)
			}
			// What was read before the fault goes to _failed_events as text.
			for _, re := range res.rejects {
				if !utf8.Valid(re.Record.Raw) {
					t.Errorf("rejected record %q is not UTF-8", re.Record.Raw)
				}
			}
		})
	}
}

// peakHeap runs f and returns how far the live heap grew above where it
// was, sampled every millisecond.
func peakHeap(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	<-stopped
	return peak.Load()
}

// TestReadLongLineBoundedMemory reads one 2 GB line produced on the fly:
// the file fails once the line passes the limit, having held about the
// limit, not the line.
func TestReadLongLineBoundedMemory(t *testing.T) {
	tests := []struct {
		name   string
		obj    read.Object
		src    *sourceT
		reason string
	}{
		{"csv", genObject{prefix: "sku,name\nA1,", fill: 'x', n: 2 << 30}, csv("sku")(), "line 2 is longer than 16 MiB"},
		{"quoted csv", genObject{prefix: "sku,name\nA1,\"", fill: '\n', n: 2 << 30}, csv("sku")(), "the record starting on line 2 is longer than 16 MiB"},
		{"ndjson", genObject{prefix: "{}\n{\"a\":\"", fill: 'x', n: 2 << 30}, js(false)(), "line 2 is longer than 16 MiB"},
		{"json array", genObject{prefix: "[{},{\"a\":\"", fill: 'x', n: 2 << 30}, js(true)(), "array element 2 is longer than 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res result
			peak := peakHeap(func() { res = readAll(t, tt.obj, tt.src, read.Limits{}) })
			var fe *read.FileError
			if !errors.As(res.err, &fe) || !strings.Contains(fe.Reason, tt.reason) {
				t.Fatalf("got %v, want a *FileError saying %q", res.err, tt.reason)
			}
			t.Logf("peak heap growth %d MiB", peak>>20)
			if peak > 128<<20 {
				t.Errorf("the heap grew by %d MiB reading a line of 2 GiB with a 16 MiB limit", peak>>20)
			}
		})
	}
}
