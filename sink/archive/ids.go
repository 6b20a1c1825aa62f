package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/parquet-go/parquet-go"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/contract"
)

// Object is one archive object of a subject.
type Object struct {
	Name string
	Size int64
	// Hour is the object's partition (dt=, hour=): the hour of event time
	// of every event in it.
	Hour time.Time
}

// Objects lists the objects of subject whose hour partition overlaps
// [since, until), in time order, without reading them.
func (r *Reader) Objects(ctx context.Context, subject string, since, until time.Time) ([]Object, error) {
	first, last := since.UTC().Truncate(time.Hour), until.UTC()
	// A window within one day lists that day only, not the subject's
	// whole history.
	list := r.prefix + "type=" + subject + "/"
	if day := first.Format("2006-01-02"); last.After(first) && last.Add(-time.Nanosecond).Format("2006-01-02") == day {
		list += "dt=" + day + "/"
	}
	it := r.bucket.Objects(ctx, &storage.Query{Prefix: list})
	var out []Object
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive: list %s: %w", subject, err)
		}
		hour, ok := partitionHour(a.Name)
		if !ok || hour.Before(first) || !hour.Before(last) {
			continue
		}
		out = append(out, Object{Name: a.Name, Size: a.Size, Hour: hour})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// IDs calls fn with the event ids of each object, reading only the
// objects' _event_id column (by range reads: the footer and that column's
// pages, not the payloads). Ids come as archived: an event archived twice
// comes twice.
func (r *Reader) IDs(ctx context.Context, objects []Object, fn func(o Object, ids []string) error) error {
	for _, o := range objects {
		f, err := r.open(ctx, o)
		if err != nil {
			return err
		}
		ids, err := stringColumn(f, contract.ColEventID)
		if err != nil {
			return fmt.Errorf("archive: read %s: %w", o.Name, err)
		}
		if err := fn(o, ids); err != nil {
			return err
		}
	}
	return nil
}

// Schemas returns the schemas the objects carry (their descriptor sets),
// reading only each object's footer, ordered by version then id.
func (r *Reader) Schemas(ctx context.Context, objects []Object) ([]*contract.Schema, error) {
	cache := map[int64]*contract.Schema{}
	for _, o := range objects {
		f, err := r.open(ctx, o)
		if err != nil {
			return nil, err
		}
		if err := fileSchemas(f, cache); err != nil {
			return nil, fmt.Errorf("archive: %s: %w", o.Name, err)
		}
	}
	out := make([]*contract.Schema, 0, len(cache))
	for _, s := range cache {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// fileSchemas adds the schemas whose descriptor sets f carries to cache.
func fileSchemas(f *parquet.File, cache map[int64]*contract.Schema) error {
	for _, kv := range f.Metadata().KeyValueMetadata {
		key, ok := strings.CutPrefix(kv.Key, metaSchema)
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			continue
		}
		if _, err := schemaOf(f, id, cache); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) open(ctx context.Context, o Object) (*parquet.File, error) {
	f, err := parquet.OpenFile(objectReaderAt{ctx, r.bucket.Object(o.Name)}, o.Size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("archive: read %s: %w", o.Name, err)
	}
	return f, nil
}

// stringColumn reads every value of a top-level string column.
func stringColumn(f *parquet.File, name string) ([]string, error) {
	col := f.Root().Column(name)
	if col == nil {
		return nil, fmt.Errorf("no %s column", name)
	}
	out := make([]string, 0, f.NumRows())
	pages := col.Pages()
	defer pages.Close()
	values := make([]parquet.Value, 1024)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		r := p.Values()
		for {
			n, err := r.ReadValues(values)
			for _, v := range values[:n] {
				out = append(out, v.String())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return nil, err
			}
		}
		parquet.Release(p)
	}
}
