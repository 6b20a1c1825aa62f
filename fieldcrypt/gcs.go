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
// VERIFY: erasure in production also deletes the keyset from the BigQuery
// keys table (not written yet); a deleted object stays recoverable for the
// bucket's soft delete window.
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

// Delete removes an object.
func (s *GCSStore) Delete(ctx context.Context, name string) error {
	err := s.bucket.Object(s.prefix + name).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("fieldcrypt: delete key %s: %w", name, err)
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
