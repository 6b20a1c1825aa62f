package console

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/sink/archive"
)

// GCSArchive is Archive over the Parquet archive's bucket: it lists the
// objects under <prefix>type=<subject>/dt=<day>/ and counts, per type and
// day, objects, bytes and rows. Rows come from each object's metadata
// (archive.RowsMetadata); an object written before the archive recorded
// them has its Parquet footer read once (objects never change: the count
// is kept by name and generation). Safe for concurrent use.
type GCSArchive struct {
	bucket *storage.BucketHandle
	prefix string

	mu     sync.Mutex
	footer map[string]int64 // name#generation → rows
}

var _ Archive = (*GCSArchive)(nil)

// NewArchive lists the archive under prefix ("events/", as the archive
// sink writes) in bucket.
func NewArchive(bucket *storage.BucketHandle, prefix string) *GCSArchive {
	return &GCSArchive{bucket: bucket, prefix: prefix, footer: map[string]int64{}}
}

// Days lists every type's days, by type then newest day first.
func (a *GCSArchive) Days(ctx context.Context) ([]ArchiveDay, error) {
	q := &storage.Query{Prefix: a.prefix}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Metadata", "Generation"}); err != nil {
		return nil, fmt.Errorf("console: archive: %w", err)
	}
	days := map[[2]string]*ArchiveDay{}
	it := a.bucket.Objects(ctx, q)
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("console: archive: list: %w", err)
		}
		typ, day, ok := partition(strings.TrimPrefix(o.Name, a.prefix))
		if !ok || !strings.HasSuffix(o.Name, ".parquet") {
			continue
		}
		rows, err := a.rows(ctx, o)
		if err != nil {
			return nil, err
		}
		k := [2]string{typ, day}
		d := days[k]
		if d == nil {
			d = &ArchiveDay{Type: typ, Day: day}
			days[k] = d
		}
		d.Objects++
		d.Bytes += o.Size
		d.Rows += rows
	}
	out := make([]ArchiveDay, 0, len(days))
	for _, d := range days {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(x, y ArchiveDay) int {
		return cmp.Or(strings.Compare(x.Type, y.Type), strings.Compare(y.Day, x.Day))
	})
	return out, nil
}

// partition reads "type=<subject>/dt=<day>/..." (hive-style, as the
// archive sink names objects).
func partition(rest string) (typ, day string, ok bool) {
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 {
		return "", "", false
	}
	typ, ok1 := strings.CutPrefix(parts[0], "type=")
	day, ok2 := strings.CutPrefix(parts[1], "dt=")
	return typ, day, ok1 && ok2 && typ != "" && day != ""
}

func (a *GCSArchive) rows(ctx context.Context, o *storage.ObjectAttrs) (int64, error) {
	if v, ok := o.Metadata[archive.RowsMetadata]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
	}
	key := o.Name + "#" + strconv.FormatInt(o.Generation, 10)
	a.mu.Lock()
	n, ok := a.footer[key]
	a.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := footerRows(ctx, a.bucket.Object(o.Name).Generation(o.Generation), o.Size)
	if err != nil {
		return 0, fmt.Errorf("console: archive: %s: %w", o.Name, err)
	}
	a.mu.Lock()
	a.footer[key] = n
	a.mu.Unlock()
	return n, nil
}

// footerTail is how much of an object's end one read takes: the footer
// (its schemas' descriptor sets included) mostly fits.
const footerTail = 64 << 10

// footerRows reads a Parquet file's row count from its footer: the last 8
// bytes are the footer's length and "PAR1".
func footerRows(ctx context.Context, obj *storage.ObjectHandle, size int64) (int64, error) {
	if size < 12 {
		return 0, errors.New("not a Parquet file: too short")
	}
	tail, err := readRange(ctx, obj, max(size-footerTail, 0), min(size, footerTail))
	if err != nil {
		return 0, err
	}
	if string(tail[len(tail)-4:]) != "PAR1" {
		return 0, errors.New("not a Parquet file (or an encrypted one)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[len(tail)-8:]))
	if n+8 > size {
		return 0, errors.New("a Parquet footer longer than the file")
	}
	var footer []byte
	if n+8 <= int64(len(tail)) {
		footer = tail[int64(len(tail))-8-n : len(tail)-8]
	} else if footer, err = readRange(ctx, obj, size-8-n, n); err != nil {
		return 0, err
	}
	var md format.FileMetaData
	if err := thrift.Unmarshal(&thrift.CompactProtocol{}, footer, &md); err != nil {
		return 0, fmt.Errorf("read the Parquet footer: %w", err)
	}
	return md.NumRows, nil
}

func readRange(ctx context.Context, obj *storage.ObjectHandle, off, n int64) ([]byte, error) {
	r, err := obj.NewRangeReader(ctx, off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != n {
		return nil, fmt.Errorf("read %d bytes at %d, want %d", len(b), off, n)
	}
	return b, nil
}

// archiveView is the Archive page's data.
type archiveView struct {
	Configured bool
	Days       []ArchiveDay
	// Totals per type, in the order of Days.
	Types []ArchiveDay
}

func (s *Server) routesArchive(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"archive", s.archivePage)
}

func (s *Server) archivePage(w http.ResponseWriter, r *http.Request) {
	v := archiveView{Configured: s.deps.Archive != nil}
	if v.Configured {
		days, err := s.deps.Archive.Days(r.Context())
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		slices.SortStableFunc(days, func(x, y ArchiveDay) int {
			return cmp.Or(strings.Compare(x.Type, y.Type), strings.Compare(y.Day, x.Day))
		})
		v.Days = days
		for _, d := range days {
			if n := len(v.Types); n > 0 && v.Types[n-1].Type == d.Type {
				t := &v.Types[n-1]
				t.Objects, t.Rows, t.Bytes = t.Objects+d.Objects, t.Rows+d.Rows, t.Bytes+d.Bytes
				continue
			}
			v.Types = append(v.Types, ArchiveDay{Type: d.Type, Objects: d.Objects, Rows: d.Rows, Bytes: d.Bytes})
		}
	}
	s.page(w, r, http.StatusOK, "archive", v)
}
