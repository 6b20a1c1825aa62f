package ledger_test

import (
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/registry/localgcs"
)

const testBucket = "hem-ledger"

// startGCS runs an in-process GCS server and returns the test bucket.
func startGCS(t testing.TB) *storage.BucketHandle {
	t.Helper()
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return bucketOn(t, srv)
}

// bucketOn returns the test bucket through a client of its own (as another
// process would have).
func bucketOn(t testing.TB, srv *localgcs.Server) *storage.BucketHandle {
	t.Helper()
	c, err := srv.NewClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := localgcs.EnsureBucket(t.Context(), c, testBucket); err != nil {
		t.Fatal(err)
	}
	return c.Bucket(testBucket)
}

// clock is a settable clock shared by the ledgers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
