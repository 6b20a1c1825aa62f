package fieldcrypt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// GCSStore is a Store in a GCS bucket under a prefix (the registry bucket's
// keys/), one object per wrapped keyset. Creates are conditional uploads
// (the first creator wins). It is safe for concurrent use.
//
// A deleted object stays recoverable for the bucket's soft delete window
// (VERIFY: that deleting every generation of an object of a versioned
// bucket leaves only soft-deleted copies).
type GCSStore struct {
	bucket *storage.BucketHandle
	prefix string
}

var _ Store = (*GCSStore)(nil)

// NewGCSStore returns the store in bucket under prefix ("" or ending in
// "/", e.g. "keys/").
func NewGCSStore(bucket *storage.BucketHandle, prefix string) (*GCSStore, error) {
	if bucket == nil || (prefix != "" && !strings.HasSuffix(prefix, "/")) {
		return nil, errors.New("fieldcrypt: a bucket and a prefix ending in / are required")
	}
	return &GCSStore{bucket: bucket, prefix: prefix}, nil
}

// Get reads an object.
func (s *GCSStore) Get(ctx context.Context, name string) ([]byte, error) {
	r, err := s.bucket.Object(s.prefix + name).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: read key %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: read key %s: %w", name, err)
	}
	return b, nil
}

// Create writes an object that must not exist.
func (s *GCSStore) Create(ctx context.Context, name string, data []byte) error {
	w := s.bucket.Object(s.prefix + name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ChunkSize = 0 // one request: whole or not at all
	w.ContentType = "application/octet-stream"
	_, werr := w.Write(data)
	if err := errors.Join(werr, w.Close()); err != nil {
		var gerr *googleapi.Error
		if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
		return fmt.Errorf("fieldcrypt: write key %s: %w", name, err)
	}
	return nil
}

// Delete removes an object with every generation a versioned bucket keeps
// of it (the registry bucket is versioned: deleting only the live object
// would keep the keyset as a noncurrent version, and erasure would not
// erase). What the bucket's soft delete keeps, it keeps for its window.
func (s *GCSStore) Delete(ctx context.Context, name string) error {
	full := s.prefix + name
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: full, Versions: true})
	var gens []int64
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("fieldcrypt: delete key %s: %w", name, err)
		}
		if a.Name == full {
			gens = append(gens, a.Generation)
		}
	}
	if len(gens) == 0 {
		gens = append(gens, 0) // the live object, whatever its generation
	}
	for _, g := range gens {
		o := s.bucket.Object(full)
		if g != 0 {
			o = o.Generation(g)
		}
		if err := o.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return fmt.Errorf("fieldcrypt: delete key %s: %w", name, err)
		}
	}
	return nil
}

// List returns the objects whose names start with prefix.
func (s *GCSStore) List(ctx context.Context, prefix string) ([]string, error) {
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: s.prefix + prefix})
	var out []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("fieldcrypt: list keys: %w", err)
		}
		out = append(out, strings.TrimPrefix(a.Name, s.prefix))
	}
}
