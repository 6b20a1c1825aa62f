package archive

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"github.com/parquet-go/parquet-go"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/sink"
)

// The archive sees an event again when a batch was written and the process
// died before its ack was durable (redelivery), and when a producer sent an
// accepted event again because a crash cut off its answer (a second Pub/Sub
// message under the same event id). A failed event comes twice when a
// rejected event is sent again. So the sink keeps a window of the keys it
// archived (the event id; for failed events sink.FailureKey) and skips an
// event whose key is in it: the first copy stays.
//
// The window is built from what is durable, not from memory: the first
// write to a partition (an hour of one type) in a process reads the keys of
// that partition's objects, newest first, before anything is written there
// (for failed events, whose partition is the failure time, also the hour
// before, where the first failure of a retried event may be). Only the
// _event_id column is read (the payload column for failed events, which
// are few). The window holds at most a set number of keys per sink, the
// oldest objects' keys leaving first, so memory and the objects read at a
// start are bounded. It sees what this process wrote and read: writers
// running side by side do not see each other's objects, so several
// processors on one subscription can still archive an event twice, and
// readers deduplicate on _event_id.

// key is a hash of an event's archive key: 16 bytes whatever the id's
// length, and no collision in any archive's lifetime.
type key [16]byte

func keyOf(subject string, e *sink.Event) key {
	s := "id:" + e.ID
	if sink.IsFailedEvents(subject) {
		if fk := sink.FailureKey(e.Payload); fk != "" {
			s = "failure:" + fk
		}
	}
	sum := sha256.Sum256([]byte(s))
	return key(sum[:16])
}

// window is the keys archived recently, per subject. It is safe for
// concurrent use.
type window struct {
	max int // keys kept; 0 turns the window off

	mu      sync.Mutex
	keys    map[string]map[key]struct{} // subject → keys
	objects []windowObject              // oldest first
	size    int                         // keys held
	done    map[string]bool             // partitions whose keys were read
}

// windowObject is one object's keys, the unit of eviction.
type windowObject struct {
	subject string
	keys    []key
}

func newWindow(max int) *window {
	return &window{max: max, keys: map[string]map[key]struct{}{}, done: map[string]bool{}}
}

// has reports whether k of subject is in the window.
func (w *window) has(subject string, k key) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.keys[subject][k]
	return ok
}

// add records the keys of one object, evicting the oldest objects' keys
// beyond the limit.
func (w *window) add(subject string, keys []key) {
	if w.max <= 0 || len(keys) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.keys[subject]
	if set == nil {
		set = map[key]struct{}{}
		w.keys[subject] = set
	}
	var added []key
	for _, k := range keys {
		if _, ok := set[k]; !ok {
			set[k] = struct{}{}
			added = append(added, k)
		}
	}
	w.objects = append(w.objects, windowObject{subject: subject, keys: added})
	w.size += len(added)
	for w.size > w.max && len(w.objects) > 0 {
		old := w.objects[0]
		w.objects[0] = windowObject{}
		w.objects = w.objects[1:]
		for _, k := range old.keys {
			delete(w.keys[old.subject], k)
		}
		w.size -= len(old.keys)
	}
}

// loaded reports whether dir's keys were read in this process.
func (w *window) loaded(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done[dir]
}

func (w *window) markLoaded(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[dir] = true
}

// loadPartition reads the keys of the newest objects under dir into the
// window, up to its limit, once per process. Until it succeeds, writes to
// the partition fail (and are retried): without the window whole, a write
// could archive a copy. Writes of one subject are not concurrent, so
// neither are loads of one partition; two that raced would only add the
// same keys twice, which add ignores.
func (s *Sink) loadPartition(ctx context.Context, subject, dir string) error {
	if s.window.max <= 0 || s.window.loaded(dir) {
		return nil
	}
	type object struct {
		name    string
		size    int64
		created time.Time
	}
	var objects []object
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: dir})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("archive: list %s: %w", dir, err)
		}
		objects = append(objects, object{a.Name, a.Size, a.Created})
	}
	// Newest first, so the limit keeps the latest keys.
	sort.Slice(objects, func(i, j int) bool {
		if !objects[i].created.Equal(objects[j].created) {
			return objects[i].created.After(objects[j].created)
		}
		return objects[i].name > objects[j].name
	})
	var read [][]key
	n := 0
	for _, o := range objects {
		if n >= s.window.max {
			break
		}
		keys, err := s.objectKeys(ctx, subject, o.name, o.size)
		if err != nil {
			return err
		}
		read = append(read, keys)
		n += len(keys)
	}
	for i := len(read) - 1; i >= 0; i-- {
		s.window.add(subject, read[i])
	}
	s.window.markLoaded(dir)
	return nil
}

// objectKeys reads the keys of an archived object: its _event_id column
// alone; for failed events (few, and keyed by their payload) every row.
func (s *Sink) objectKeys(ctx context.Context, subject, name string, size int64) ([]key, error) {
	f, err := parquet.OpenFile(objectReaderAt{ctx, s.bucket.Object(name)}, size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("archive: read %s: %w", name, err)
	}
	keys := make([]key, 0, f.NumRows())
	if sink.IsFailedEvents(subject) {
		rows := make([]record, f.NumRows())
		rd := parquet.NewGenericReader[record](f)
		defer rd.Close()
		n, err := rd.Read(rows)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("archive: read %s: %w", name, err)
		}
		for _, r := range rows[:n] {
			keys = append(keys, keyOf(subject, &sink.Event{ID: r.EventID, Payload: r.Payload}))
		}
		return keys, nil
	}
	col := f.Root().Column("_event_id")
	if col == nil {
		return nil, fmt.Errorf("archive: read %s: no _event_id column", name)
	}
	pages := col.Pages()
	defer pages.Close()
	values := make([]parquet.Value, 1024)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("archive: read %s: %w", name, err)
		}
		r := p.Values()
		for {
			n, err := r.ReadValues(values)
			for _, v := range values[:n] {
				keys = append(keys, keyOf(subject, &sink.Event{ID: v.String()}))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return nil, fmt.Errorf("archive: read %s: %w", name, err)
			}
		}
		parquet.Release(p)
	}
}

// objectReaderAt reads an object by ranges, so opening a Parquet file
// fetches its footer and the one column read, not the payloads. It lives
// for one objectKeys call, whose context it carries (io.ReaderAt has no
// place for one).
type objectReaderAt struct {
	ctx context.Context //nolint:containedctx // one call's adapter to io.ReaderAt
	o   *storage.ObjectHandle
}

func (r objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rd, err := r.o.NewRangeReader(r.ctx, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	n, err := io.ReadFull(rd, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
