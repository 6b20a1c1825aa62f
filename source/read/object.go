package read

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/storage"
)

// ObjectAttrs describes one object (or local file) being loaded.
type ObjectAttrs struct {
	URI        string    // gs://BUCKET/NAME or file:///abs/path
	Bucket     string    // "" for a local file
	Name       string    // object name, or the file's base name
	Generation int64     // a local file: a fingerprint of its content
	Size       int64     // bytes as stored (compressed)
	Created    time.Time // object creation, file mtime
	CRC32C     string    // hex, "" when unknown
	MD5        string    // hex, "" when unknown
}

// Object is one immutable object: a GCS object pinned to its generation, or
// a file. Its methods are safe for concurrent use.
type Object interface {
	Attrs() ObjectAttrs
	// NewRangeReader reads length bytes from off (length < 0: to the end).
	// Deleted or replaced under the reader → an error wrapping ErrObjectGone.
	// ctx governs the reader until it is closed.
	NewRangeReader(ctx context.Context, off, length int64) (io.ReadCloser, error)
}

// gcsWindow is how much one GCS request reads. A long read is a chain of
// requests, each pinned to the generation, so an object deleted or replaced
// while it is read is noticed at the next request instead of never (a
// request already streaming goes on serving the old bytes); a request costs
// a round trip, so the window is large.
var gcsWindow int64 = 64 << 20

type gcsObject struct {
	h     *storage.ObjectHandle
	attrs ObjectAttrs
}

// GCSObject pins the object name of bucket to generation (0: the current
// one) and fetches its attributes once. A missing object is an error
// wrapping ErrObjectGone.
func GCSObject(ctx context.Context, bucket *storage.BucketHandle, name string, generation int64) (Object, error) {
	h := bucket.Object(name)
	if generation != 0 {
		h = h.Generation(generation)
	}
	a, err := h.Attrs(ctx)
	if err != nil {
		return nil, gcsErr(fmt.Sprintf("gs://%s/%s", h.BucketName(), name), err)
	}
	o := &gcsObject{
		h: bucket.Object(name).Generation(a.Generation),
		attrs: ObjectAttrs{
			URI:        fmt.Sprintf("gs://%s/%s", a.Bucket, a.Name),
			Bucket:     a.Bucket,
			Name:       a.Name,
			Generation: a.Generation,
			Size:       a.Size,
			Created:    a.Created,
			MD5:        hex.EncodeToString(a.MD5),
		},
	}
	// A CRC32C of 0 is as likely as any other, but the fake and some
	// uploads leave it unset: only a CRC32C the store reports is kept.
	if a.CRC32C != 0 || a.Size == 0 {
		o.attrs.CRC32C = fmt.Sprintf("%08x", a.CRC32C)
	}
	return o, nil
}

func gcsErr(uri string, err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("read: %s: %w: %w", uri, ErrObjectGone, err)
	}
	return fmt.Errorf("read: %s: %w", uri, err)
}

func (o *gcsObject) Attrs() ObjectAttrs { return o.attrs }

func (o *gcsObject) NewRangeReader(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	end := o.attrs.Size
	if length >= 0 && off+length < end {
		end = off + length
	}
	r := &gcsReader{ctx: ctx, o: o, off: off, end: end}
	// The first request now, so a gone object fails the call, not a Read.
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// gcsReader reads [off, end) of a pinned object as a chain of requests of
// gcsWindow bytes.
type gcsReader struct {
	ctx      context.Context //nolint:containedctx // the reader's lifetime, given to NewRangeReader (like storage.Reader's)
	o        *gcsObject
	off, end int64
	cur      *storage.Reader
}

func (r *gcsReader) open() error {
	if r.off >= r.end {
		return nil
	}
	n := min(gcsWindow, r.end-r.off)
	cur, err := r.o.h.NewRangeReader(r.ctx, r.off, n)
	if err != nil {
		return gcsErr(r.o.attrs.URI, err)
	}
	r.cur = cur
	return nil
}

func (r *gcsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.off >= r.end {
				return 0, io.EOF
			}
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		n, err := r.cur.Read(p)
		r.off += int64(n)
		if err == io.EOF {
			_ = r.cur.Close()
			r.cur = nil
			if r.off < r.end && n == 0 {
				continue
			}
			if r.off < r.end {
				err = nil
			}
		} else if err != nil {
			err = gcsErr(r.o.attrs.URI, err)
		}
		return n, err
	}
}

func (r *gcsReader) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}

type fileObject struct {
	path  string
	attrs ObjectAttrs
}

// FileObject is the local file at path. Its generation is a fingerprint
// of its content (fileGeneration), as an overwritten GCS object gets a new
// generation: an edited file is a new object to the ledger, the same file
// again is not. A file changed (size or mtime) after FileObject returned
// fails the next NewRangeReader with ErrObjectGone, as a replaced GCS
// object would.
func FileObject(path string) (Object, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read: %w: %w", ErrObjectGone, err)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read: %s is not a regular file", abs)
	}
	sum := crc32.New(castagnoli)
	if _, err := io.Copy(sum, f); err != nil {
		return nil, fmt.Errorf("read: %s: %w", abs, err)
	}
	if after, err := f.Stat(); err != nil || after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		return nil, fmt.Errorf("read: %s: %w: the file changed while it was read", abs, ErrObjectGone)
	}
	crc := sum.Sum32()
	return &fileObject{path: abs, attrs: ObjectAttrs{
		URI:        "file://" + filepath.ToSlash(abs),
		Name:       filepath.Base(abs),
		Generation: fileGeneration(crc, fi.Size()),
		Size:       fi.Size(),
		Created:    fi.ModTime(),
		CRC32C:     fmt.Sprintf("%08x", crc),
	}}, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileGeneration is a local file's generation: its CRC32C (as GCS checks
// objects) and its size in one positive number.
func fileGeneration(crc uint32, size int64) int64 {
	g := int64(crc)<<31 | size&(1<<31-1)
	if g == 0 {
		return 1 // 0 would say "none"
	}
	return g
}

func (o *fileObject) Attrs() ObjectAttrs { return o.attrs }

func (o *fileObject) NewRangeReader(_ context.Context, off, length int64) (io.ReadCloser, error) {
	f, err := os.Open(o.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read: %s: %w: %w", o.attrs.URI, ErrObjectGone, err)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read: %w", err)
	}
	if fi.Size() != o.attrs.Size || !fi.ModTime().Equal(o.attrs.Created) {
		_ = f.Close()
		return nil, fmt.Errorf("read: %s: %w: the file changed while it was loaded", o.attrs.URI, ErrObjectGone)
	}
	if length < 0 || off+length > o.attrs.Size {
		length = max(o.attrs.Size-off, 0)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, length), f}, nil
}
