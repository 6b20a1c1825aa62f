// Package archive is hem's GCS archive: every event, as published, in
// Parquet objects at
//
//	<prefix>type=<subject>/dt=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet
//
// (hive-style partitions: BigQuery external tables, DuckDB and Spark read
// them as columns). A row is the envelope (_event_id, _event_time,
// _received_at, _published_at, _schema_id, _schema_version, _producer,
// _attributes), the contract's fields as typed columns, as in the
// warehouse (typed.go; failed events have none), and the payload bytes,
// which stay the truth; each object's key/value metadata holds
// the descriptor set of every schema id in it (hem.schema.<id>), so the
// archive can be read and replayed without the registry.
//
// Each Write uploads one object per hour of event time, atomically (a
// conditional create under a name no other writer uses), and returns when
// it is durable. Objects roll with the processor's batches: for the archive
// the processor batches large (by default 50 000 events, 64 MiB or 30 s),
// and Write splits anything above the object size cap.
//
// Delivery is at least once, so the sink sees events again (a batch
// redelivered after a crash, a producer's retry); it skips those whose id
// (for failed events, their failure: sink.FailureKey) it archived
// recently, reading that window back from the objects after a restart
// (dedup.go). The window is bounded and per process: processors running
// side by side can each archive an event, so readers that need one row per
// event deduplicate on _event_id, as BigQuery's _dedup views do.
package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"cloud.google.com/go/storage"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"google.golang.org/api/googleapi"

	"github.com/hemlabs/hem/sink"
)

// record is one archived event.
type record struct {
	EventID       string     `parquet:"_event_id"`
	EventTime     time.Time  `parquet:"_event_time,timestamp(microsecond)"`
	ReceivedAt    *time.Time `parquet:"_received_at,timestamp(microsecond),optional"`
	PublishedAt   *time.Time `parquet:"_published_at,timestamp(microsecond),optional"`
	SchemaID      int64      `parquet:"_schema_id"`
	SchemaVersion int32      `parquet:"_schema_version"`
	Producer      string     `parquet:"_producer"`
	Attributes    string     `parquet:"_attributes,json"`
	Payload       []byte     `parquet:"payload"`
}

// RowsMetadata is the GCS metadata key of an archive object's row count,
// so a listing (the console's Archive page) counts rows without reading
// each object's Parquet footer.
const RowsMetadata = "hem-rows"

// Metadata keys of an archive object's Parquet file.
const (
	metaSchema  = "hem.schema."  // + id: base64 FileDescriptorSet
	metaSubject = "hem.subject." // + id
	metaVersion = "hem.version." // + id
)

// Option configures a Sink.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	prefix   string
	writerID string
	maxBytes int
	window   int
}

// WithPrefix sets the object prefix (default "events/"; the failed-events
// sink uses "failed/").
func WithPrefix(p string) Option { return optionFunc(func(c *config) { c.prefix = p }) }

// WithWriterID names this writer in object names (default host-pid-random);
// it must be unique among concurrent writers.
func WithWriterID(id string) Option { return optionFunc(func(c *config) { c.writerID = id }) }

// WithMaxObjectBytes caps the payload bytes of one object (default 128 MiB).
func WithMaxObjectBytes(n int) Option { return optionFunc(func(c *config) { c.maxBytes = n }) }

// WithDedupWindow sets how many of the keys it archived last the sink
// keeps, to skip events it already archived (default 1,000,000, about
// 55 MB; 0 turns skipping off). See dedup.go.
func WithDedupWindow(keys int) Option { return optionFunc(func(c *config) { c.window = keys }) }

// Sink writes batches to the archive bucket. It is safe for concurrent use.
type Sink struct {
	bucket *storage.BucketHandle
	cfg    config
	seq    atomic.Int64
	window *window
}

var (
	_ sink.Sink        = (*Sink)(nil)
	_ sink.PayloadSink = (*Sink)(nil)
)

// New returns a sink writing to bucket through client.
func New(client *storage.Client, bucket string, opts ...Option) (*Sink, error) {
	if client == nil || bucket == "" {
		return nil, errors.New("archive: a storage client and a bucket are required")
	}
	host, _ := os.Hostname()
	cfg := config{prefix: "events/", maxBytes: 128 << 20, window: 1_000_000,
		writerID: fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.window < 0 {
		return nil, fmt.Errorf("archive: dedup window %d: must be 0 or more", cfg.window)
	}
	return &Sink{bucket: client.Bucket(bucket), cfg: cfg, window: newWindow(cfg.window)}, nil
}

// ObjectPath is where an event of subject at t is archived, without the
// writer's file name.
func ObjectPath(prefix, subject string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%stype=%s/dt=%s/hour=%02d/", prefix, subject, t.Format("2006-01-02"), t.Hour())
}

// Write implements sink.Sink: when it returns nil every event is in a
// durable object. An event whose key (its id; for failed events
// sink.FailureKey) was archived recently, or came earlier in the batch, is
// not written again (dedup.go).
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	groups := map[string][]*sink.Event{}
	keys := map[string][]key{}
	// A batch spans few hours: the object folder is formatted once per hour,
	// not once per event.
	dirOf := map[int64]string{}
	dirFor := func(t time.Time) (string, bool) {
		h := t.Unix()
		h -= ((h % 3600) + 3600) % 3600
		if d, ok := dirOf[h]; ok {
			return d, false
		}
		d := ObjectPath(s.cfg.prefix, b.Subject, t)
		dirOf[h] = d
		return d, true
	}
	for _, e := range b.Events {
		dir, first := dirFor(e.EventTime)
		if first {
			groups[dir] = nil
			if err := s.loadPartitions(ctx, b.Subject, e.EventTime); err != nil {
				return err
			}
		}
	}
	inBatch := map[key]bool{}
	for _, e := range b.Events {
		k := keyOf(b.Subject, e)
		if s.window.max > 0 && (inBatch[k] || s.window.has(b.Subject, k)) {
			continue // archived already: the first copy stays
		}
		inBatch[k] = true
		dir, _ := dirFor(e.EventTime)
		groups[dir] = append(groups[dir], e)
		keys[dir] = append(keys[dir], k)
	}
	dirs := make([]string, 0, len(groups))
	for d := range groups {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		events, ks := groups[dir], keys[dir]
		for len(events) > 0 {
			n, size := 0, 0
			for n < len(events) && (n == 0 || size+len(events[n].Payload) <= s.cfg.maxBytes) {
				size += len(events[n].Payload)
				n++
			}
			if err := s.upload(ctx, dir, events[:n]); err != nil {
				return err
			}
			s.window.add(b.Subject, ks[:n])
			events, ks = events[n:], ks[n:]
		}
	}
	return nil
}

// loadPartitions reads into the window the keys of the partition of an
// event of subject at t, and for failed events (partitioned by failure
// time) of the hour before too, where an earlier failure of the same event
// may be.
func (s *Sink) loadPartitions(ctx context.Context, subject string, t time.Time) error {
	if err := s.loadPartition(ctx, subject, ObjectPath(s.cfg.prefix, subject, t)); err != nil {
		return err
	}
	if sink.IsFailedEvents(subject) {
		return s.loadPartition(ctx, subject, ObjectPath(s.cfg.prefix, subject, t.Add(-time.Hour)))
	}
	return nil
}

func (s *Sink) upload(ctx context.Context, dir string, events []*sink.Event) error {
	data, err := Encode(events)
	if err != nil {
		return sink.Permanent(err)
	}
	for range 5 {
		name := fmt.Sprintf("%s%s-%06d.parquet", dir, s.cfg.writerID, s.seq.Add(1))
		w := s.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		w.ChunkSize = 0 // one request: the object appears whole or not at all
		w.ContentType = "application/vnd.apache.parquet"
		w.Metadata = map[string]string{RowsMetadata: strconv.Itoa(len(events))}
		_, werr := w.Write(data)
		cerr := w.Close()
		if err := errors.Join(werr, cerr); err != nil {
			var gerr *googleapi.Error
			if errors.As(err, &gerr) && gerr.Code == 412 {
				continue // the name is taken (a restarted writer): next sequence number
			}
			return fmt.Errorf("archive: upload %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("archive: no free object name under %s", dir)
}

// codec is shared by every Encode: it pools its zstd encoders, each with
// a window of several MiB that a fresh codec would allocate (and zero)
// again for every object.
var codec = &zstd.Codec{Level: zstd.SpeedFastest}

// Encode writes events (of one subject) as one Parquet file: the
// envelope, the contract's typed columns (typed.go) and the payload, with
// the descriptor sets of their schemas in the file's metadata. Failed
// events, and a contract without a column mapping, keep the envelope and
// payload alone.
func Encode(events []*sink.Event) ([]byte, error) {
	if len(events) > 0 && !sink.IsFailedEvents(events[0].Schema.Subject) {
		if l, err := layoutOf((&sink.Batch{Events: events}).Newest()); err == nil {
			return encodeTyped(l, events)
		}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[record](&buf, append(metadata(events), parquet.Compression(codec))...)
	rows := make([]record, len(events))
	for i, e := range events {
		attrs, err := attributes(e)
		if err != nil {
			return nil, err
		}
		rows[i] = record{
			EventID: e.ID, EventTime: e.EventTime.UTC(), ReceivedAt: optionalTime(e.ReceivedAt), PublishedAt: optionalTime(e.PublishedAt),
			SchemaID: e.Schema.ID, SchemaVersion: int32(e.Schema.Version), Producer: e.Producer,
			Attributes: attrs, Payload: e.Payload,
		}
	}
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("archive: encode: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("archive: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// skipPayloadBounds leaves the payload column's pages without the
// minimum and maximum value, which mean nothing for protobuf bytes and
// cost a comparison of every payload.
var skipPayloadBounds = parquet.SkipPageBounds("payload")

// noPageHeaderStats leaves the bounds out of the data page headers: the
// column index holds the same bounds per page, where readers look for
// them, and a page's bounds cost a pass over its values each time.
var noPageHeaderStats = parquet.DataPageStatistics(false)

// encodeTyped writes events with the typed columns of l, a chunk of rows
// at a time, column by column. The envelope's values are those the record
// struct writes, in its column order.
func encodeTyped(l *layout, events []*sink.Event) ([]byte, error) {
	opts := append(metadata(events), parquet.Compression(codec), l.schema, skipPayloadBounds, noPageHeaderStats,
		parquet.KeyValueMetadata(metaColumns, strconv.FormatInt(l.newest.ID, 10)))
	if len(l.untyped) > 0 {
		opts = append(opts, parquet.KeyValueMetadata(metaUntyped, strings.Join(l.untyped, ",")))
	}
	// An object is about as large as its payloads (typed columns added,
	// compressed): one buffer instead of a series of doublings.
	var size int
	for _, e := range events {
		size += len(e.Payload)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	w := parquet.NewWriter(buf, opts...)
	writers := w.ColumnWriters()
	t := newTyper(l)
	defer t.release()
	c := &t.columns
	const chunk = 1024
	var attrs []byte // the chunk's _attributes, which its values alias
	var err error
	for len(events) > 0 {
		n := min(chunk, len(events))
		attrs = attrs[:0]
		for _, e := range events[:n] {
			at := len(attrs)
			attrs, err = appendAttributes(attrs, e.Attributes)
			if err != nil {
				return nil, err
			}
			c.put(parquet.ByteArrayValue(bytesOf(e.ID)), 0, 0, 0)
			c.put(parquet.Int64Value(e.EventTime.UnixMicro()), 0, 0, 1)
			putTime(c, e.ReceivedAt, 2)
			putTime(c, e.PublishedAt, 3)
			c.put(parquet.Int64Value(e.Schema.ID), 0, 0, 4)
			c.put(parquet.Int32Value(int32(e.Schema.Version)), 0, 0, 5)
			c.put(parquet.ByteArrayValue(bytesOf(e.Producer)), 0, 0, 6)
			c.put(parquet.ByteArrayValue(attrs[at:len(attrs):len(attrs)]), 0, 0, 7)
			t.typed(e.Payload, e.Schema)
			c.put(parquet.ByteArrayValue(e.Payload), 0, 0, l.payload)
		}
		for i, vals := range c.vals {
			if _, err := writers[i].WriteRowValues(vals); err != nil {
				return nil, fmt.Errorf("archive: encode: %w", err)
			}
		}
		c.reset() // the writer copied the values
		events = events[n:]
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("archive: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// metadata is the descriptor set, subject and version of every schema of
// events.
func metadata(events []*sink.Event) []parquet.WriterOption {
	var opts []parquet.WriterOption
	seen := map[int64]bool{}
	for _, e := range events {
		if seen[e.Schema.ID] {
			continue
		}
		seen[e.Schema.ID] = true
		id := strconv.FormatInt(e.Schema.ID, 10)
		opts = append(opts,
			parquet.KeyValueMetadata(metaSchema+id, base64.StdEncoding.EncodeToString(e.Schema.DescriptorSet())),
			parquet.KeyValueMetadata(metaSubject+id, e.Schema.Subject),
			parquet.KeyValueMetadata(metaVersion+id, strconv.Itoa(e.Schema.Version)))
	}
	return opts
}

// attributes is the _attributes JSON object of e.
func attributes(e *sink.Event) (string, error) {
	b, err := appendAttributes(nil, e.Attributes)
	return string(b), err
}

// appendAttributes appends the _attributes JSON object of attrs to dst,
// the bytes json.Marshal gives: keys sorted, and any key or value that
// json would escape left to it.
func appendAttributes(dst []byte, attrs map[string]string) ([]byte, error) {
	if len(attrs) == 0 {
		return append(dst, "{}"...), nil
	}
	var keys [8]string
	ks := keys[:0]
	for k, v := range attrs {
		if !plainJSON(k) || !plainJSON(v) {
			b, err := json.Marshal(attrs)
			return append(dst, b...), err
		}
		ks = append(ks, k)
	}
	slices.Sort(ks)
	dst = append(dst, '{')
	for i, k := range ks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, `":"`...)
		dst = append(dst, attrs[k]...)
		dst = append(dst, '"')
	}
	return append(dst, '}'), nil
}

// plainJSON reports whether json.Marshal writes s as it is between quotes:
// printable ASCII, without the quote, backslash and the HTML characters it
// escapes.
func plainJSON(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// bytesOf is s as bytes without a copy, for values the Parquet writer
// copies into its buffers.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// putTime writes an optional TIMESTAMP(MICROS) envelope value of column
// col: NULL for an unknown (zero) time.
func putTime(c *columns, t time.Time, col int) {
	if t.IsZero() {
		c.put(parquet.NullValue(), 0, 0, col)
		return
	}
	c.put(parquet.Int64Value(t.UnixMicro()), 0, 1, col)
}

// optionalTime is nil for an unknown (zero) time, which Parquet stores as
// NULL.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// PayloadOnly reports that the archive stores Event.Payload and never reads
// Event.Message, so a processor need not decode the payloads it archives
// (sink.PayloadSink).
func (s *Sink) PayloadOnly() bool { return true }

// Close implements sink.Sink; the sink holds nothing between writes.
func (s *Sink) Close(context.Context) error { return nil }
