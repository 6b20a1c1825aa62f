package read

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/text/encoding/charmap"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/spec"
)

// Record is one record of a file. A Record is never modified after Next
// returned it: it may be handed to several goroutines.
type Record struct {
	Header []string       // CSV: the header's column names (shared by a file's records)
	Values []string       // CSV: one value per Header column (UTF-8)
	Object map[string]any // JSON, Parquet: the fields (JSON numbers as json.Number)
	Entry  string         // archive entry name, "" otherwise
	Line   int64          // 1-based line the record starts on (CSV, NDJSON); 1-based record number in its entry (JSON array, Parquet)
	Number int64          // 0-based position of the record in the whole object, across entries: the checkpoint counts these
	Raw    []byte         // the record's bytes as read (CSV/NDJSON line, JSON array element; UTF-8); nil for Parquet
}

// parser reads the records of one entry.
type parser interface {
	next() (Record, error)
}

// entries yields the (decompressed) entries of an object in order; one
// unnamed entry for an object that is not an archive.
type entries interface {
	next() (name string, r io.Reader, err error)
}

// Reader reads the records of one object. It is not safe for concurrent
// use: one goroutine reads, and hands the records on.
type Reader struct {
	src    *sourcev1.Source
	lim    Limits
	m      *meter
	ents   entries
	p      parser
	entry  string
	seen   int // entries opened
	number int64
	err    error
	close  []io.Closer
}

// Open starts reading obj as src declares. ctx governs the requests to the
// object for the Reader's lifetime. Errors: *FileError (the object cannot be
// read as declared), or ctx's.
func Open(ctx context.Context, obj Object, src *sourcev1.Source, lim Limits) (*Reader, error) {
	lim = lim.withDefaults()
	r := &Reader{src: src, lim: lim, m: &meter{lim: lim}}
	if err := r.open(ctx, obj); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) open(ctx context.Context, obj Object) error {
	comp := r.src.GetCompression()
	size := obj.Attrs().Size
	if r.src.GetFormat().GetParquet() != nil {
		if comp.GetKind() != nil {
			return fileErr(nil, "a Parquet file is read as stored: its declaration cannot name a compression (Parquet compresses its pages itself)")
		}
		if size == 0 {
			return fileErr(nil, "empty file")
		}
		ra := &readerAt{ctx: ctx, obj: obj, m: r.m}
		r.close = append(r.close, ra)
		p, err := newParquet(ra, size, r.src.GetFormat().GetParquet(), r.lim)
		if err != nil {
			return err
		}
		r.ents = &single{}
		r.p = p
		r.seen = 1
		return nil
	}
	if zc := comp.GetZip(); zc != nil {
		if size == 0 {
			return fileErr(nil, "empty file")
		}
		ra := &readerAt{ctx: ctx, obj: obj, m: r.m}
		r.close = append(r.close, ra)
		z, err := newZipEntries(ra, size, zc.GetEntryPattern(), r.m)
		if err != nil {
			return err
		}
		r.ents = z
		return nil
	}
	rc, err := obj.NewRangeReader(ctx, 0, -1)
	if err != nil {
		return objectErr(err)
	}
	r.close = append(r.close, rc)
	raw := &rawReader{r: rc, m: r.m}
	switch {
	case comp.GetGzip() != nil, comp.GetTarGz() != nil:
		zr, err := newGzip(raw, r.m, size)
		if err != nil {
			return err
		}
		if tc := comp.GetTarGz(); tc != nil {
			r.ents = &tarEntries{tr: tar.NewReader(zr), pattern: tc.GetEntryPattern(), lim: r.lim}
			return nil
		}
		r.ents = &single{r: zr}
	case comp.GetZstd() != nil:
		br := bufio.NewReaderSize(raw, chunk)
		if b, err := br.Peek(4); len(b) == 0 {
			if err != nil && err != io.EOF {
				return objectErr(err)
			}
			return fileErr(nil, "empty file")
		}
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			// A frame may ask for a window up to this; larger is refused
			// instead of allocated.
			zstd.WithDecoderMaxWindow(64<<20),
			zstd.WithDecoderMaxMemory(uint64(r.lim.MaxDecompressedBytes)))
		if err != nil {
			return fileErr(err, "cannot start the zstd decoder")
		}
		r.close = append(r.close, closerFunc(func() error { zr.Close(); return nil }))
		r.ents = &single{r: &decoded{r: zr, m: r.m, wordErr: zstdErr}}
	default:
		br := bufio.NewReaderSize(raw, chunk)
		b, err := br.Peek(4)
		if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
			return objectErr(err)
		}
		if kind := packed(b); kind != "" {
			return fileErr(nil, "the object is %s, but its declaration names no compression", kind)
		}
		r.ents = &single{r: br}
	}
	return nil
}

// packed names the compression or archive the first bytes of an object
// announce, "" for none: an object declared plain that is one would
// otherwise fail as "not valid UTF-8".
func packed(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "gzip data"
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd data"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return "a zip archive"
	}
	return ""
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func newGzip(raw io.Reader, m *meter, size int64) (io.Reader, error) {
	br := bufio.NewReaderSize(raw, chunk)
	if size == 0 {
		return nil, fileErr(nil, "empty file")
	}
	if b, err := br.Peek(2); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		if err != nil && err != io.EOF {
			return nil, objectErr(err)
		}
		return nil, fileErr(nil, "not gzip data")
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, gzipErr(err)
	}
	return &decoded{r: zr, m: m, wordErr: func(err error) error {
		if errors.Is(err, gzip.ErrHeader) {
			// Multi-member: what follows a member is not another one.
			return fileErr(nil, "data after the end of the gzip stream is not gzip")
		}
		return gzipErr(err)
	}}, nil
}

func gzipErr(err error) error {
	var fe *FileError
	var ce flate.CorruptInputError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, gzip.ErrHeader):
		return fileErr(nil, "not gzip data")
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return fileErr(nil, "truncated gzip stream")
	case errors.Is(err, gzip.ErrChecksum):
		return fileErr(nil, "gzip checksum mismatch: the data is corrupt")
	case errors.As(err, &ce):
		return fileErr(err, "corrupt gzip data")
	}
	return fileErr(err, "cannot read the gzip stream")
}

func zstdErr(err error) error {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, zstd.ErrMagicMismatch):
		return fileErr(nil, "not zstd data")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fileErr(nil, "truncated zstd stream")
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return fileErr(err, "the zstd stream asks for more memory than allowed")
	}
	return fileErr(err, "corrupt zstd data")
}

// single is an object that is not an archive: one unnamed entry.
type single struct {
	r    io.Reader
	done bool
}

func (s *single) next() (string, io.Reader, error) {
	if s.done || s.r == nil {
		return "", nil, io.EOF
	}
	s.done = true
	return "", s.r, nil
}

// match reports whether an entry name matches the declared pattern ("":
// every entry), with the declarations' glob ('**' across segments).
func match(pattern, name string) bool {
	return pattern == "" || spec.Match(pattern, name)
}

type zipEntries struct {
	files []*zip.File
	m     *meter
	cur   io.Closer
}

func newZipEntries(ra io.ReaderAt, size int64, pattern string, m *meter) (*zipEntries, error) {
	// archive/zip holds the whole central directory: its count is checked
	// before, so a directory of millions of entries is not loaded to be
	// refused.
	if n, err := zipCount(ra, size); err != nil {
		return nil, err
	} else if n > uint64(m.lim.MaxEntries) {
		return nil, fileErr(nil, "the archive has %d entries, more than %d", n, m.lim.MaxEntries)
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, fileErr(err, "not a zip archive")
	}
	if len(zr.File) > m.lim.MaxEntries {
		return nil, fileErr(nil, "the archive has %d entries, more than %d", len(zr.File), m.lim.MaxEntries)
	}
	z := &zipEntries{m: m}
	for _, f := range zr.File {
		if f.Mode().IsRegular() && match(pattern, f.Name) {
			z.files = append(z.files, f)
		}
	}
	sort.Slice(z.files, func(i, j int) bool { return z.files[i].Name < z.files[j].Name })
	if len(z.files) == 0 {
		return nil, noEntry(pattern)
	}
	return z, nil
}

// zipCount returns the number of entries the end of central directory
// record of a zip declares (0 when it finds none: archive/zip then says
// what is wrong).
func zipCount(ra io.ReaderAt, size int64) (uint64, error) {
	const eocdLen, maxComment = 22, 65535
	n := min(size, eocdLen+maxComment)
	buf := make([]byte, n)
	if _, err := ra.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, objectErr(err)
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < eocdLen {
		return 0, nil
	}
	count := uint64(binary.LittleEndian.Uint16(buf[i+10:]))
	if count != 0xFFFF || i < 20 || !bytes.HasPrefix(buf[i-20:], []byte("PK\x06\x07")) {
		return count, nil
	}
	// Zip64: the locator points at the zip64 end record, which counts in 64 bits.
	off := int64(binary.LittleEndian.Uint64(buf[i-20+8:]))
	var rec [56]byte
	if off < 0 || off > size-int64(len(rec)) {
		return 0, nil
	}
	if _, err := ra.ReadAt(rec[:], off); err != nil && err != io.EOF {
		return 0, objectErr(err)
	}
	if !bytes.HasPrefix(rec[:], []byte("PK\x06\x06")) {
		return 0, nil
	}
	return binary.LittleEndian.Uint64(rec[32:]), nil
}

func noEntry(pattern string) error {
	if pattern == "" {
		return fileErr(nil, "the archive holds no file")
	}
	return fileErr(nil, "the archive holds no entry matching %q", pattern)
}

func (z *zipEntries) next() (string, io.Reader, error) {
	if z.cur != nil {
		_ = z.cur.Close()
		z.cur = nil
	}
	if len(z.files) == 0 {
		return "", nil, io.EOF
	}
	f := z.files[0]
	z.files = z.files[1:]
	if f.UncompressedSize64 > uint64(z.m.lim.MaxDecompressedBytes) {
		return "", nil, fileErr(nil, "entry %s declares %s, more than the %s allowed (a zip bomb?)", f.Name, size(int64(min(f.UncompressedSize64, 1<<62))), size(z.m.lim.MaxDecompressedBytes))
	}
	rc, err := f.Open()
	if err != nil {
		return "", nil, zipErr(f.Name, err)
	}
	z.cur = rc
	name := f.Name
	return name, &decoded{r: rc, m: z.m, wordErr: func(err error) error { return zipErr(name, err) }}, nil
}

func zipErr(name string, err error) error {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, zip.ErrAlgorithm):
		return fileErr(nil, "entry %s uses a compression method hem cannot read", name)
	case errors.Is(err, zip.ErrChecksum):
		return fileErr(nil, "entry %s fails its checksum: the archive is corrupt", name)
	case errors.Is(err, zip.ErrFormat):
		return fileErr(err, "entry %s is corrupt (or larger than it declares)", name)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fileErr(nil, "entry %s is truncated", name)
	}
	return fileErr(err, "entry %s cannot be read", name)
}

type tarEntries struct {
	tr      *tar.Reader
	pattern string
	lim     Limits
	n       int
	matched bool
}

func (t *tarEntries) next() (string, io.Reader, error) {
	for {
		h, err := t.tr.Next()
		if err == io.EOF {
			if !t.matched {
				if t.n == 0 {
					return "", nil, fileErr(nil, "empty tar archive")
				}
				return "", nil, noEntry(t.pattern)
			}
			return "", nil, io.EOF
		}
		if err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				return "", nil, fe
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return "", nil, fileErr(nil, "truncated tar archive")
			}
			return "", nil, fileErr(err, "not a tar archive")
		}
		t.n++
		if t.n > t.lim.MaxEntries {
			return "", nil, fileErr(nil, "the archive has more than %d entries", t.lim.MaxEntries)
		}
		if h.Typeflag != tar.TypeReg || !match(t.pattern, h.Name) {
			continue
		}
		t.matched = true
		return h.Name, &tarEntry{r: t.tr, name: h.Name}, nil
	}
}

// tarEntry words a truncated entry.
type tarEntry struct {
	r    io.Reader
	name string
}

func (e *tarEntry) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		var fe *FileError
		if !errors.As(err, &fe) {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fileErr(nil, "entry %s is truncated", e.name)
			} else {
				err = fileErr(err, "entry %s cannot be read", e.name)
			}
		}
	}
	return n, err
}

// newParser starts the declared format's parser over one entry's bytes.
func (r *Reader) newParser(in io.Reader) (parser, error) {
	f := r.src.GetFormat()
	in = skipBOM(in)
	switch {
	case f.GetCsv() != nil:
		c := f.GetCsv()
		if c.GetEncoding() == sourcev1.Encoding_ENCODING_LATIN1 {
			in = charmap.ISO8859_1.NewDecoder().Reader(in)
		}
		return newCSV(in, c, r.lim)
	case f.GetJson() != nil:
		if f.GetJson().GetArray() {
			return newJSONArray(in, r.lim)
		}
		return newNDJSON(in, r.lim), nil
	}
	return nil, fileErr(nil, "the declaration names no format")
}

// Next returns the next record; io.EOF at the end. A record that cannot be
// read but does not stop the file is *RecordError (its Record has Entry,
// Line, Number and Raw): count it as rejected and call Next again. Anything
// that makes the rest of the file unreadable is *FileError, returned again
// by every later call.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if r.number&1023 == 0 {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
	}
	for {
		if r.p == nil {
			name, in, err := r.ents.next()
			if err == io.EOF {
				return Record{}, io.EOF
			}
			if err != nil {
				return Record{}, r.fail(err)
			}
			r.entry = name
			r.seen++
			p, err := r.newParser(in)
			if err != nil {
				return Record{}, r.fail(err)
			}
			r.p = p
		}
		rec, err := r.p.next()
		if err == nil {
			rec.Entry, rec.Number = r.entry, r.number
			r.number++
			return rec, nil
		}
		if err == io.EOF {
			r.p = nil
			continue
		}
		if re := asRecordError(err); re != nil {
			re.Record.Entry, re.Record.Number = r.entry, r.number
			r.number++
			return Record{}, re
		}
		return Record{}, r.fail(err)
	}
}

// asRecordError is err's *RecordError, nil when it has none (apart, so
// that a record read allocates nothing for errors.As).
func asRecordError(err error) *RecordError {
	var re *RecordError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// fail makes err the Reader's final error, naming the entry it is about.
func (r *Reader) fail(err error) error {
	var fe *FileError
	if !errors.As(err, &fe) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		fe = fileErr(err, "cannot read the file")
	}
	if r.entry != "" && !errors.Is(fe, ErrObjectGone) {
		fe = &FileError{Reason: fmt.Sprintf("entry %s: %s", r.entry, fe.Reason), Err: fe.Err}
	}
	r.err = fe
	return fe
}

// Close releases the object's readers.
func (r *Reader) Close() error {
	var errs []error
	if c, ok := r.p.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	for i := len(r.close) - 1; i >= 0; i-- {
		errs = append(errs, r.close[i].Close())
	}
	r.close = nil
	return errors.Join(errs...)
}

// skipBOM drops a UTF-8 byte order mark at the start of in.
func skipBOM(in io.Reader) io.Reader {
	br := bufio.NewReaderSize(in, chunk)
	if b, _ := br.Peek(3); len(b) == 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = br.Discard(3)
	}
	return br
}
