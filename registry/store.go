package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/hemlabs/hem/contract"
)

// The store keeps two kinds of objects under the prefix:
//
//	index.json                              every version: id, subject, version, fingerprint, state
//	schemas/<subject>/<fingerprint>.binpb   the version's FileDescriptorSet
//
// Descriptor sets are immutable and content-addressed, written with
// DoesNotExist before the index refers to them. The index is the single
// commit point: it is rewritten with If(GenerationMatch) on the generation
// it was read at, so allocating a version and an id happens in one atomic
// conditional upload and two racing registrations can neither lose a
// version nor hand out one id twice. Nothing relies on preconditions of
// delete, update or copy (the local fake ignores those).

const (
	indexObject  = "index.json"
	schemaPrefix = "schemas/"
	indexFormat  = 1
)

// indexFile is the JSON form of index.json.
type indexFile struct {
	Format int `json:"format"`
	// NextID is the id the next version gets.
	NextID   int64   `json:"next_id"`
	Versions []entry `json:"versions"` // in id order
}

// entry is one version in the index.
type entry struct {
	ID          int64     `json:"id"`
	Subject     string    `json:"subject"`
	Version     int       `json:"version"`
	Fingerprint string    `json:"fingerprint"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	// Object is the descriptor set's object name, relative to the prefix.
	Object string `json:"object"`
	// Commit identifies the index write that added the entry, so a writer
	// whose upload succeeded but whose response was lost recognises it.
	Commit string `json:"commit,omitempty"`
	// PushedBy and SourceCommit are the version's provenance: the principal
	// that registered it and the commit (e.g. a git SHA) it named. Entries
	// written before they were recorded have neither.
	PushedBy     string `json:"pushed_by,omitempty"`
	SourceCommit string `json:"source_commit,omitempty"`
}

// schema is base with e's identity and provenance.
func (e *entry) schema(base *contract.Schema) *contract.Schema {
	s := base.WithIdentity(e.ID, e.Version, e.state(), e.CreatedAt)
	s.PushedBy, s.Commit = e.PushedBy, e.SourceCommit
	return s
}

func (e *entry) state() contract.State {
	if e.State == contract.Usable.String() {
		return contract.Usable
	}
	return contract.Pending
}

// store is the GCS side of the registry. It is safe for concurrent use.
type store struct {
	bucket *storage.BucketHandle
	prefix string // "" or ending in "/"
}

func newStore(bucket *storage.BucketHandle, prefix string) *store {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &store{bucket: bucket, prefix: prefix}
}

func (s *store) obj(name string) *storage.ObjectHandle { return s.bucket.Object(s.prefix + name) }

func schemaObject(subject, fingerprint string) string {
	return path.Join(schemaPrefix, subject, fingerprint+".binpb")
}

// readIndex reads the index and the generation it was read at; a missing
// index is an empty one at generation 0.
func (s *store) readIndex(ctx context.Context) (*indexFile, int64, error) {
	b, gen, err := s.read(ctx, indexObject)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return &indexFile{Format: indexFormat, NextID: 1}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var f indexFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, 0, fmt.Errorf("store: decode %s%s: %w", s.prefix, indexObject, err)
	}
	if f.Format != indexFormat {
		return nil, 0, fmt.Errorf("store: %s%s has format %d; this hem reads format %d", s.prefix, indexObject, f.Format, indexFormat)
	}
	return &f, gen, nil
}

// errConflict means a conditional upload lost a race.
var errConflict = errors.New("store: concurrent update")

// writeIndex uploads f if the index is still at generation gen (0: if there
// is none). It returns errConflict when it is not.
func (s *store) writeIndex(ctx context.Context, f *indexFile, gen int64) (int64, error) {
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return 0, fmt.Errorf("store: encode index: %w", err)
	}
	cond := storage.Conditions{GenerationMatch: gen}
	if gen == 0 {
		cond = storage.Conditions{DoesNotExist: true}
	}
	attrs, err := s.write(ctx, indexObject, cond, "application/json", b)
	if err != nil {
		return 0, err
	}
	return attrs.Generation, nil
}

// putSchema stores a descriptor set unless an object with its name (and so
// its fingerprint) exists.
func (s *store) putSchema(ctx context.Context, name string, b []byte) error {
	_, err := s.write(ctx, name, storage.Conditions{DoesNotExist: true}, "application/x-protobuf", b)
	if errors.Is(err, errConflict) {
		return nil // content-addressed: the existing object is equivalent
	}
	return err
}

func (s *store) getSchema(ctx context.Context, name string) ([]byte, error) {
	b, _, err := s.read(ctx, name)
	return b, err
}

func (s *store) write(ctx context.Context, name string, cond storage.Conditions, contentType string, b []byte) (*storage.ObjectAttrs, error) {
	w := s.obj(name).If(cond).NewWriter(ctx)
	w.ChunkSize = 0 // one request: no resumable session to lose
	w.ContentType = contentType
	if _, err := w.Write(b); err != nil {
		_ = w.Close()
		return nil, s.writeErr(name, err)
	}
	if err := w.Close(); err != nil {
		return nil, s.writeErr(name, err)
	}
	return w.Attrs(), nil
}

func (s *store) writeErr(name string, err error) error {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
		return fmt.Errorf("write %s%s: %w", s.prefix, name, errConflict)
	}
	return fmt.Errorf("store: write %s%s: %w", s.prefix, name, err)
}

// readAttempts bounds retries of reads. A read racing a write of the same
// object can pair the old object's checksum with the new content ("bad CRC
// on read") on the local fake; the retry sees a consistent object.
const readAttempts = 5

func (s *store) read(ctx context.Context, name string) ([]byte, int64, error) {
	var lastErr error
	for attempt := range readAttempts {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(attempt)*5*time.Millisecond); err != nil {
				return nil, 0, err
			}
		}
		b, gen, err := s.readOnce(ctx, name)
		if err == nil || errors.Is(err, storage.ErrObjectNotExist) || ctx.Err() != nil {
			return b, gen, err
		}
		lastErr = err
	}
	return nil, 0, lastErr
}

func (s *store) readOnce(ctx context.Context, name string) ([]byte, int64, error) {
	r, err := s.obj(name).NewReader(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("store: read %s%s: %w", s.prefix, name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("store: read %s%s: %w", s.prefix, name, err)
	}
	return b, r.Attrs.Generation, nil
}

// backoff sleeps before retry attempt n of a lost race, with jitter so that
// racing writers spread out.
func backoff(ctx context.Context, n int) error {
	d := min(time.Duration(1<<min(n, 6))*time.Millisecond, 50*time.Millisecond)
	return sleep(ctx, d/2+rand.N(d))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
