package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
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
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/wire"
)

// Record is one archived event, decoded.
type Record struct {
	EventID     string
	EventTime   time.Time
	ReceivedAt  time.Time
	PublishedAt time.Time
	Producer    string
	Attributes  map[string]string
	Payload     []byte
	// Schema is rebuilt from the object's metadata; Message is Payload
	// decoded with it.
	Schema  *contract.Schema
	Message protoreflect.Message
	// Object is the archive object the event was read from.
	Object string
}

// Reader reads an archive bucket. It is safe for concurrent use.
type Reader struct {
	bucket *storage.BucketHandle
	prefix string
}

// NewReader reads bucket under prefix (e.g. "events/" or "failed/").
func NewReader(client *storage.Client, bucket, prefix string) *Reader {
	return &Reader{bucket: client.Bucket(bucket), prefix: prefix}
}

// NewBucketReader reads bucket under prefix, for a caller that holds a
// bucket handle rather than a client.
func NewBucketReader(bucket *storage.BucketHandle, prefix string) *Reader {
	return &Reader{bucket: bucket, prefix: prefix}
}

// Subjects lists the event types in the archive.
func (r *Reader) Subjects(ctx context.Context) ([]string, error) {
	it := r.bucket.Objects(ctx, &storage.Query{Prefix: r.prefix + "type=", Delimiter: "/"})
	var out []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive: list: %w", err)
		}
		if a.Prefix != "" {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(a.Prefix, r.prefix+"type="), "/"))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Events calls fn for every archived event of subject whose event time is in
// [since, until), object by object in time order. It reads only the hour
// partitions in range.
func (r *Reader) Events(ctx context.Context, subject string, since, until time.Time, fn func(*Record) error) error {
	objects, err := r.Objects(ctx, subject, since, until)
	if err != nil {
		return err
	}
	schemas := map[int64]*contract.Schema{}
	for _, o := range objects {
		name := o.Name
		data, err := r.read(ctx, name)
		if err != nil {
			return err
		}
		recs, err := decodeObject(data, schemas)
		if err != nil {
			return fmt.Errorf("archive: %s: %w", name, err)
		}
		for _, rec := range recs {
			if rec.EventTime.Before(since) || !rec.EventTime.Before(until) {
				continue
			}
			rec.Object = name
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// partitionHour reads dt=YYYY-MM-DD/hour=HH from an object name.
func partitionHour(name string) (time.Time, bool) {
	var dt, hour string
	for _, part := range strings.Split(name, "/") {
		if v, ok := strings.CutPrefix(part, "dt="); ok {
			dt = v
		}
		if v, ok := strings.CutPrefix(part, "hour="); ok {
			hour = v
		}
	}
	t, err := time.Parse("2006-01-02 15", dt+" "+hour)
	return t, err == nil
}

// read fetches an object, retrying torn reads (a CRC mismatch when a read
// races a write on the local GCS server).
func (r *Reader) read(ctx context.Context, name string) ([]byte, error) {
	var last error
	for attempt := range 3 {
		rd, err := r.bucket.Object(name).NewReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("archive: read %s: %w", name, err)
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err == nil {
			return data, nil
		}
		last = err
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	return nil, fmt.Errorf("archive: read %s: %w", name, last)
}

func decodeObject(data []byte, schemas map[int64]*contract.Schema) ([]*Record, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	rows := make([]record, f.NumRows())
	rd := parquet.NewGenericReader[record](bytes.NewReader(data))
	n, err := rd.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	rows = rows[:n]
	out := make([]*Record, 0, len(rows))
	for _, row := range rows {
		s, err := schemaOf(f, row.SchemaID, schemas)
		if err != nil {
			return nil, err
		}
		rec := &Record{
			EventID: row.EventID, EventTime: row.EventTime, ReceivedAt: deref(row.ReceivedAt), PublishedAt: deref(row.PublishedAt),
			Producer: row.Producer, Payload: row.Payload, Schema: s,
		}
		if row.Attributes != "" && row.Attributes != "{}" {
			if err := json.Unmarshal([]byte(row.Attributes), &rec.Attributes); err != nil {
				return nil, fmt.Errorf("event %s: attributes: %w", row.EventID, err)
			}
		}
		m := s.NewMessage()
		if err := wire.Unmarshal(proto.UnmarshalOptions{}, row.Payload, m); err != nil {
			return nil, fmt.Errorf("event %s: payload: %w", row.EventID, err)
		}
		rec.Message = m
		out = append(out, rec)
	}
	return out, nil
}

func schemaOf(f *parquet.File, id int64, cache map[int64]*contract.Schema) (*contract.Schema, error) {
	if s, ok := cache[id]; ok {
		return s, nil
	}
	key := strconv.FormatInt(id, 10)
	enc, ok := f.Lookup(metaSchema + key)
	if !ok {
		return nil, fmt.Errorf("no descriptor set for schema id %d in the object", id)
	}
	fds, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, err
	}
	subject, _ := f.Lookup(metaSubject + key)
	version, _ := f.Lookup(metaVersion + key)
	s, err := contract.Parse(subject, fds)
	if err != nil {
		return nil, err
	}
	v, _ := strconv.Atoi(version)
	s = s.WithIdentity(id, v, contract.Usable, time.Time{})
	cache[id] = s
	return s, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
