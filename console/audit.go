package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// auditPrefix is where GCSAudit keeps its entries.
const auditPrefix = "audit/"

// GCSAudit is the console's audit trail in a GCS bucket: one JSON object
// per entry under audit/, written with the precondition DoesNotExist, so
// an entry is never overwritten (a replay's record cannot be rewritten by
// a later one, or by a second console). Names begin with the time counted
// down from the year 2262, so the bucket's ascending listing is newest
// first and List reads only the objects it returns. It is safe for
// concurrent use.
type GCSAudit struct {
	bucket *storage.BucketHandle
	now    func() time.Time
}

var _ Audit = (*GCSAudit)(nil)

// NewGCSAudit keeps the audit trail in bucket.
func NewGCSAudit(client *storage.Client, bucket string) *GCSAudit {
	return &GCSAudit{bucket: client.Bucket(bucket), now: time.Now}
}

// auditName is the object name of an entry made at t: the nanoseconds
// left until math.MaxInt64 (19 digits, so they sort as numbers), the time
// readable, and a random suffix so two entries of one instant both stay.
func auditName(t time.Time) (string, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	return fmt.Sprintf("%s%019d-%s-%s.json", auditPrefix, math.MaxInt64-t.UnixNano(), t.UTC().Format("20060102T150405.000000000Z"), hex.EncodeToString(r[:])), nil
}

// Record writes e as a new object; its At is set to now when zero.
func (a *GCSAudit) Record(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = a.now()
	}
	e.At = e.At.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	name, err := auditName(e.At)
	if err != nil {
		return err
	}
	return a.write(ctx, name, b)
}

// write creates the object name, which must not exist yet.
func (a *GCSAudit) write(ctx context.Context, name string, b []byte) error {
	w := a.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := w.Write(b); err != nil {
		_ = w.Close()
		return fmt.Errorf("audit: write %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		var gerr *googleapi.Error
		if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
			return fmt.Errorf("audit: %s exists already: %w", name, err)
		}
		return fmt.Errorf("audit: write %s: %w", name, err)
	}
	return nil
}

// List returns the newest limit entries, newest first.
func (a *GCSAudit) List(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	it := a.bucket.Objects(ctx, &storage.Query{Prefix: auditPrefix})
	var out []AuditEntry
	for len(out) < limit {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit: list: %w", err)
		}
		if !strings.HasSuffix(attrs.Name, ".json") {
			continue
		}
		e, err := a.read(ctx, attrs.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (a *GCSAudit) read(ctx context.Context, name string) (AuditEntry, error) {
	var e AuditEntry
	r, err := a.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return e, fmt.Errorf("audit: read %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return e, fmt.Errorf("audit: read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("audit: %s: %w", name, err)
	}
	return e, nil
}
