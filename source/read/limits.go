package read

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Limits bound what one object may cost. Zero fields take the defaults.
type Limits struct {
	MaxRecordBytes       int64 // default 16 MiB: a longer line/record fails the file
	MaxDecompressedBytes int64 // default 256 GiB per object
	MaxRatio             int64 // default 200: decompressed/compressed beyond 64 MiB fails (zip bomb)
	MaxEntries           int   // default 10000 archive entries
}

// ratioFloor is how much an object may decompress to before MaxRatio
// applies: small files of repeated values compress far better than 200:1
// and are no threat.
const ratioFloor = 64 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = 16 << 20
	}
	if l.MaxDecompressedBytes <= 0 {
		l.MaxDecompressedBytes = 256 << 30
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 200
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 10000
	}
	return l
}

// meter counts the bytes read from the object and the bytes they
// decompress to, across the entries of an archive.
type meter struct {
	lim          Limits
	raw, decoded int64
}

func (m *meter) check() error {
	if m.decoded > m.lim.MaxDecompressedBytes {
		return fileErr(nil, "the object decompresses to more than %s", size(m.lim.MaxDecompressedBytes))
	}
	if m.decoded > ratioFloor && m.decoded > m.lim.MaxRatio*m.raw {
		return fileErr(nil, "the object decompresses to more than %d times its size (a zip bomb?)", m.lim.MaxRatio)
	}
	return nil
}

// rawReader reads the object's bytes, counting them and wording the
// object's errors.
type rawReader struct {
	r io.Reader
	m *meter
}

func (r *rawReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.m.raw += int64(n)
	if err != nil && err != io.EOF {
		err = objectErr(err)
	}
	return n, err
}

func objectErr(err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, ErrObjectGone) {
		return fileErr(err, "object was deleted or replaced while loading")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fileErr(err, "cannot read the object")
}

// decoded reads decompressed bytes: it counts them against the limits and
// words the decompressor's errors with wordErr.
type decoded struct {
	r       io.Reader
	m       *meter
	wordErr func(error) error
}

func (d *decoded) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.m.decoded += int64(n)
	if lerr := d.m.check(); lerr != nil {
		return 0, lerr
	}
	if err != nil && err != io.EOF {
		err = d.wordErr(err)
	}
	return n, err
}

var errNegativeOffset = errors.New("a negative offset")

// readerAt makes an io.ReaderAt of range reads (zip, Parquet). Sequential
// ReadAt calls continue one open range reader instead of a request each.
type readerAt struct {
	ctx  context.Context //nolint:containedctx // Open's, for the Reader's lifetime: io.ReaderAt has no context
	obj  Object
	m    *meter
	mu   sync.Mutex
	cur  io.ReadCloser
	next int64 // offset cur reads next
}

func (a *readerAt) ReadAt(p []byte, off int64) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.obj.Attrs().Size
	if off < 0 {
		// A forged zip offset; to GCS a negative offset would mean "from
		// the end", so it never reaches a range read.
		return 0, fmt.Errorf("read: offset %d: %w", off, errNegativeOffset)
	}
	if off >= size {
		return 0, io.EOF
	}
	if a.cur == nil || a.next != off {
		a.close()
		rc, err := a.obj.NewRangeReader(a.ctx, off, -1)
		if err != nil {
			return 0, objectErr(err)
		}
		a.cur, a.next = rc, off
	}
	want := p
	if int64(len(want)) > size-off {
		want = want[:size-off]
	}
	n, err := io.ReadFull(a.cur, want)
	a.next += int64(n)
	a.m.raw += int64(n)
	if err != nil {
		a.close()
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if err != io.EOF {
			return n, objectErr(err)
		}
		return n, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (a *readerAt) close() {
	if a.cur != nil {
		_ = a.cur.Close()
		a.cur = nil
	}
}

func (a *readerAt) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.close()
	return nil
}
